/* cmd_inspect.c: `moe-factory inspect`: verdicts on PNG images with a trained model: score,
 * threshold, the bounding box of the defect region, a heatmap overlay, time per image, and the
 * image's SHA-256; one database row per image and model (re-inspecting adds no duplicate). Images go
 * in batches: reading and decoding run on every core (OpenMP), the network runs once per batch. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command_run.h"
#include "commands.h"
#include "detector.h"
#include "image_set.h"
#include "inspect_inputs.h"
#include "inspect_schema.h"
#include "moecore/budget.h"
#include "moecore/log.h"
#include "moecore/progress.h"
#include "moecore/run.h"
#include "overlay.h"
#include "png_io.h"

#define BATCH 16

typedef struct {
    const char *model;
    const char *heatmaps;
} inspect_opts;

static const mc_option options[] = {
    {"model", 'm', "MODEL", "model file written by train (required)", NULL},
    {"heatmaps", 0, "DIR", "write a heatmap overlay per image into DIR (named after its path below its argument)", NULL},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    (void)ctx;
    inspect_opts *o = user;
    if (index == 0) o->model = arg;
    else o->heatmaps = arg;
    return 0;
}

/* One image's work and result. */
typedef struct item {
    const char *path, *heatmap_name;
    fab_image img;
    char sha[MC_SHA256_HEX];
    char reason[600];        /* why the image is rejected; empty when it is not */
    char output_error[600];  /* why its heatmap could not be written: the run's failure, not the image's */
    double ms, score, fraction;
    int defect, box[4];
    char heatmap[4400];
} item;

static double now_ms(void) { return omp_get_wtime() * 1000.0; }

/* Verdict, defect fraction and bounding box of item it from its map (M x M). */
static void locate(item *it, const fab_detector *d, const float *map) {
    const int M = d->map;
    int x0 = M, y0 = M, x1 = -1, y1 = -1, n = 0;
    for (int y = 0; y < M; y++)
        for (int x = 0; x < M; x++)
            if (map[y * M + x] > d->threshold) {
                n++;
                if (x < x0) x0 = x;
                if (y < y0) y0 = y;
                if (x > x1) x1 = x;
                if (y > y1) y1 = y;
            }
    it->defect = it->score > d->threshold;
    it->fraction = (double)n / (M * M);
    if (it->defect && n > 0) {
        const int W = it->img.w, H = it->img.h;
        it->box[0] = (int)((long)x0 * W / M);
        it->box[1] = (int)((long)y0 * H / M);
        it->box[2] = (int)((long)(x1 + 1) * W / M) - 1;
        it->box[3] = (int)((long)(y1 + 1) * H / M) - 1;
    } else {
        it->box[0] = -1;
    }
}

/* The map as heat in [0, 1]: probabilities as they are, distances relative to 1.5 x threshold. */
static void heat_of(float *heat, const fab_detector *d, const float *map) {
    const int MM = d->map * d->map;
    for (int i = 0; i < MM; i++) {
        float v = d->mode == FAB_MODE_SUPERVISED ? map[i] : (float)(map[i] / (1.5 * d->threshold));
        heat[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

static int store_item(mc_run *run, const fab_detector *d, const item *it, char *reason, size_t size) {
    mc_store *s = mc_run_store(run);
    sqlite3_stmt *st;
    if (mc_store_stmt(s, "INSERT INTO fab_inspections(image_sha256, model_sha256, path, width, height, verdict, score,"
                         " threshold, bbox_x0, bbox_y0, bbox_x1, bbox_y1, defect_fraction, ms, heatmap, inspected_at, run_id)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                         " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?16)"
                         " ON CONFLICT(image_sha256, model_sha256) DO UPDATE SET path = excluded.path,"
                         " verdict = excluded.verdict, score = excluded.score, threshold = excluded.threshold,"
                         " bbox_x0 = excluded.bbox_x0, bbox_y0 = excluded.bbox_y0, bbox_x1 = excluded.bbox_x1,"
                         " bbox_y1 = excluded.bbox_y1, defect_fraction = excluded.defect_fraction, ms = excluded.ms,"
                         " heatmap = excluded.heatmap, inspected_at = excluded.inspected_at, run_id = excluded.run_id",
                      &st) != MC_OK)
        goto db_error;
    sqlite3_bind_text(st, 1, it->sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, it->path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, it->img.w);
    sqlite3_bind_int(st, 5, it->img.h);
    sqlite3_bind_text(st, 6, it->defect ? "defect" : "ok", -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 7, it->score);
    sqlite3_bind_double(st, 8, d->threshold);
    if (it->box[0] >= 0)
        for (int k = 0; k < 4; k++) sqlite3_bind_int(st, 9 + k, it->box[k]);
    sqlite3_bind_double(st, 13, it->fraction);
    sqlite3_bind_double(st, 14, it->ms);
    if (it->heatmap[0]) sqlite3_bind_text(st, 15, it->heatmap, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, mc_run_id(run), -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto db_error;
    return 0;
db_error:
    snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(s)));
    return -1;
}

static void report(const mc_ctx *ctx, const fab_detector *d, const item *it) {
    if (ctx->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:s}", "path", it->path, "sha256", it->sha, "verdict",
                              it->defect ? "defect" : "ok", "score", it->score, "threshold", d->threshold,
                              "defect_fraction", it->fraction, "ms", it->ms, "model", d->sha256);
        json_object_set_new(j, "bbox", it->box[0] >= 0 ? json_pack("[i, i, i, i]", it->box[0], it->box[1], it->box[2], it->box[3])
                                                       : json_null());
        json_object_set_new(j, "heatmap", it->heatmap[0] ? json_string(it->heatmap) : json_null());
        mc_cli_print_json(j);
    } else if (it->box[0] >= 0) {
        printf("%s\t%s\tscore %.4f\tthreshold %.4f\tbox %d,%d,%d,%d\t%.2f ms\n", it->path, it->defect ? "defect" : "ok",
               it->score, d->threshold, it->box[0], it->box[1], it->box[2], it->box[3], it->ms);
    } else {
        printf("%s\t%s\tscore %.4f\tthreshold %.4f\t-\t%.2f ms\n", it->path, it->defect ? "defect" : "ok", it->score,
               d->threshold, it->ms);
    }
}

/* One batch: decode in parallel, one forward, locate and draw in parallel, store in order. */
static void inspect_batch(const mc_ctx *ctx, mc_run *run, fab_detector *d, const inspect_opts *o, item *items, int n,
                          float *x, float *maps, double *scores) {
    const int S = d->size, MM = d->map * d->map;
    #pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; i++) {
        item *it = &items[i];
        if (it->reason[0]) continue; /* refused before decoding */
        double t0 = now_ms();
        uint8_t *bytes = NULL;
        size_t nb = 0;
        mc_error e;
        if (fab_png_read(&it->img, it->path, FAB_PNG_MAX_PIXELS, &bytes, &nb, &e) != MC_OK) {
            snprintf(it->reason, sizeof it->reason, "%s", fab_png_problem(e.msg, it->path));
            continue;
        }
        mc_sha256_hex(bytes, nb, it->sha);
        free(bytes);
        if (fab_preprocess(x + (size_t)i * S * S, &it->img, S) != MC_OK) snprintf(it->reason, sizeof it->reason, "out of memory");
        it->ms = now_ms() - t0;
    }
    /* the good ones, packed, through the network in one call */
    int idx[BATCH], k = 0;
    for (int i = 0; i < n; i++)
        if (!items[i].reason[0]) {
            if (k != i) memcpy(x + (size_t)k * S * S, x + (size_t)i * S * S, sizeof(float) * (size_t)S * S);
            idx[k++] = i;
        }
    if (k > 0) {
        double t0 = now_ms();
        mc_status st = fab_detector_run(d, x, k, maps, scores);
        double share = (now_ms() - t0) / k;
        for (int j = 0; j < k; j++) {
            item *it = &items[idx[j]];
            if (st != MC_OK) snprintf(it->reason, sizeof it->reason, "the model failed: %s", mc_status_str(st));
            it->score = scores[j];
            it->ms += share;
        }
    }
    #pragma omp parallel for schedule(dynamic)
    for (int j = 0; j < k; j++) {
        item *it = &items[idx[j]];
        if (it->reason[0]) continue;
        const float *map = maps + (size_t)j * MM;
        double t0 = now_ms();
        locate(it, d, map);
        it->ms += now_ms() - t0;
        /* a file given twice in one batch has one heatmap, drawn once */
        int drawn = 0;
        for (int q = 0; q < j && !drawn; q++) drawn = strcmp(items[idx[q]].heatmap_name, it->heatmap_name) == 0;
        if (o->heatmaps) snprintf(it->heatmap, sizeof it->heatmap, "%s/%s", o->heatmaps, it->heatmap_name);
        if (o->heatmaps && !drawn) {
            float *heat = malloc(sizeof(float) * (size_t)MM);
            mc_error e;
            if (!heat) {
                snprintf(it->reason, sizeof it->reason, "out of memory");
            } else {
                heat_of(heat, d, map);
                if (fab_overlay_write(it->heatmap, &it->img, heat, d->map, it->box[0] >= 0 ? it->box : NULL, &e) != MC_OK) {
                    snprintf(it->output_error, sizeof it->output_error, "%s", e.msg);
                    it->heatmap[0] = '\0';
                }
            }
            free(heat);
        }
        /* scored and drawn: the pixels go now, the size stays for the row */
        free(it->img.px);
        it->img.px = NULL;
    }
    mc_store *s = mc_run_store(run);
    for (int i = 0; i < n; i++) {
        item *it = &items[i];
        char reason[700];
        if (it->output_error[0]) mc_run_fail(run, "%s: heatmap not written: %s", it->path, it->output_error);
        if (it->reason[0]) {
            mc_run_input_rejected(run, it->path, it->reason);
        } else if (mc_store_begin(s) != MC_OK) {
            mc_run_input_rejected(run, it->path, mc_store_error(s)->msg);
        } else if (store_item(run, d, it, reason, sizeof reason) != 0) {
            mc_run_input_rejected(run, it->path, reason);
        } else if (mc_store_commit(s) != MC_OK) {
            mc_run_input_rejected(run, it->path, mc_store_error(s)->msg);
        } else {
            report(ctx, d, it);
            mc_run_input_ok(run);
        }
        fab_image_free(&it->img);
    }
}

int fab_cmd_inspect(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--model MODEL [options] IMAGE|DIR...",
        .description = "Inspects PNG images with a model from train (a folder: every .png below it, leaving out\n"
                       "folders named masks): verdict ok or defect, score against the model's calibrated threshold,\n"
                       "the bounding box of the defect region, time per image and the file's SHA-256; one row per\n"
                       "image and model in fab_inspections. A missing, corrupt or unreadable image is rejected and\n"
                       "the batch goes on.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 1,
        .max_args = -1,
    };
    inspect_opts o = {0};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if (!o.model) return mc_cli_usage_error(ctx, "--model MODEL is required"), MC_EXIT_USAGE;
    mc_error err;
    fab_inspect_inputs in;
    if (fab_inspect_inputs_collect(&in, argv + first, argc - first, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    if (o.heatmaps && mkdir(o.heatmaps, 0777) != 0 && errno != EEXIST) {
        mc_log_error("%s: cannot create folder: %s", o.heatmaps, strerror(errno));
        fab_inspect_inputs_free(&in);
        return MC_EXIT_FAILURE;
    }
    mc_run *run = fab_command_run_begin(ctx, fab_inspect_schema_migrate);
    if (!run) {
        fab_inspect_inputs_free(&in);
        return MC_EXIT_FAILURE;
    }
    mc_store *s = mc_run_store(run);
    fab_detector *d = NULL;
    item *items = NULL;
    float *x = NULL, *maps = NULL;
    double scores[BATCH];
    mc_status st;
    if ((st = fab_detector_load(&d, o.model, &err)) != MC_OK) {
        mc_log_error("%s", err.msg);
        goto done;
    }
    if ((st = mc_store_begin(s)) != MC_OK ||
        (st = fab_inspect_record_model(s, mc_run_id(run), d->sha256, o.model, fab_mode_name(d->mode), d->size, d->threshold,
                                       d->method, NULL)) != MC_OK ||
        (st = mc_store_commit(s)) != MC_OK) {
        mc_log_error("database: %s", sqlite3_errmsg(mc_store_db(s)));
        mc_store_rollback(s);
        goto done;
    }
    items = calloc(BATCH, sizeof *items);
    x = malloc(sizeof(float) * BATCH * (size_t)d->size * d->size);
    maps = malloc(sizeof(float) * BATCH * (size_t)d->map * d->map);
    if (!items || !x || !maps) {
        mc_log_error("out of memory");
        st = MC_ERR_NOMEM;
        goto done;
    }
    mc_progress *bar = mc_progress_start("inspect", in.n);
    const size_t budget = mc_memory_budget();
    for (int i = 0; i < in.n;) {
        /* a batch holds its decoded images until they are stored: as many as the budget allows */
        int n = 0;
        size_t used = 0;
        memset(items, 0, sizeof *items * BATCH);
        while (n < BATCH && i + n < in.n) {
            item *it = &items[n];
            size_t cost = 0;
            int w = 0, h = 0;
            if (fab_png_decode_cost(in.path[i + n], &cost, &w, &h) == 0 && cost > budget)
                snprintf(it->reason, sizeof it->reason,
                         "a %d x %d image needs about %zu MiB to decode, above the memory budget of %zu MiB (MOESUITE_MEMORY_MB)",
                         w, h, cost >> 20, budget >> 20);
            else if (n > 0 && used + cost > budget)
                break;
            else
                used += cost;
            it->path = in.path[i + n];
            it->heatmap_name = in.heatmap[i + n];
            n++;
        }
        inspect_batch(ctx, run, d, &o, items, n, x, maps, scores);
        i += n;
        mc_progress_add(bar, n);
    }
    mc_progress_finish(bar);
done:
    free(items);
    free(x);
    free(maps);
    fab_detector_free(d);
    fab_inspect_inputs_free(&in);
    return mc_run_end(run, st);
}
