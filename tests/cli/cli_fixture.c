/* cli_fixture.c: a small program built only for the tests, exercising the shared command-line and
 * run plumbing as the real programs do. `moe-fixture ingest FILE...` stores the "key,value" lines
 * of each file in fixture_items, one transaction per file; a malformed line rejects its file.
 * --full-after N and --lock-after N make the store fail after N files: the first fills the file
 * system the database is on (a file DB.fill grows until a write fails; meant for a small tmpfs),
 * the second has a second connection take the write lock and keep it, as another process holding
 * it past the busy timeout does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moecore/cli.h"
#include "moecore/log.h"
#include "moecore/progress.h"
#include "moecore/run.h"

static const char *const fixture_migrations[] = {
    "CREATE TABLE fixture_items (key TEXT PRIMARY KEY, value REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;",
};

static mc_status fixture_migrate(mc_store *s) { return mc_store_migrate(s, "fixture", fixture_migrations, 1); }

typedef struct {
    long delay_ms, full_after, lock_after;
} ingest_opts;

static const mc_option ingest_options[] = {
    {"delay-ms", 0, "N", "pause after each line, to make batches slow enough to watch", "0"},
    {"full-after", 0, "N", "after N files fill the database's file system (DB.fill)", "-1 (never)"},
    {"lock-after", 0, "N", "after N files another connection holds the write lock", "-1 (never)"},
};

static int on_ingest_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    ingest_opts *o = user;
    if (index == 0) return mc_cli_int(ctx, "delay-ms", arg, 0, 10000, &o->delay_ms);
    return mc_cli_int(ctx, index == 1 ? "full-after" : "lock-after", arg, 0, 1000000, index == 1 ? &o->full_after : &o->lock_after);
}

/* The store's failures on demand (--full-after, --lock-after), before file number i. */
static void inject_failures(mc_run *run, const ingest_opts *o, int i, sqlite3 **locker) {
    sqlite3 *db = mc_store_db(mc_run_store(run));
    if (i == o->full_after) {
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL); /* the next write must grow the WAL */
        char path[4200];
        snprintf(path, sizeof path, "%s.fill", sqlite3_db_filename(db, "main"));
        FILE *f = fopen(path, "wb");
        static const char block[65536];
        while (f && fwrite(block, 1, sizeof block, f) == sizeof block && fflush(f) == 0) {
        }
        if (f) fclose(f);
    }
    if (i == o->lock_after && sqlite3_open(sqlite3_db_filename(db, "main"), locker) == SQLITE_OK)
        sqlite3_exec(*locker, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

/* Stores one file; returns 0, or -1 with reason filled. */
static int ingest_file(mc_run *run, const char *path, const ingest_opts *o, long *rows, char *reason, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    mc_store *s = mc_run_store(run);
    if (mc_store_begin(s) != MC_OK) {
        snprintf(reason, size, "%s", mc_store_error(s)->msg);
        fclose(f);
        return -1;
    }
    char line[512];
    long lineno = 0;
    *rows = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *comma = strchr(line, ',');
        char *end = NULL;
        double v = comma ? strtod(comma + 1, &end) : 0.0;
        if (!comma || comma == line || end == comma + 1 || *end != '\0') {
            snprintf(reason, size, "line %ld: expected KEY,NUMBER", lineno);
            fclose(f);
            return -1;
        }
        *comma = '\0';
        sqlite3_stmt *st;
        if (mc_store_stmt(s, "INSERT INTO fixture_items(key, value, run_id) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT(key) DO UPDATE SET value = excluded.value, run_id = excluded.run_id",
                          &st) != MC_OK) {
            snprintf(reason, size, "%s", mc_store_error(s)->msg);
            fclose(f);
            return -1;
        }
        sqlite3_bind_text(st, 1, line, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 2, v);
        sqlite3_bind_text(st, 3, mc_run_id(run), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            snprintf(reason, size, "line %ld: %s", lineno, sqlite3_errmsg(mc_store_db(s)));
            fclose(f);
            return -1;
        }
        (*rows)++;
        if (o->delay_ms > 0) nanosleep(&(struct timespec){o->delay_ms / 1000, (o->delay_ms % 1000) * 1000000L}, NULL);
    }
    fclose(f);
    if (mc_store_commit(s) != MC_OK) {
        snprintf(reason, size, "%s", mc_store_error(s)->msg);
        return -1;
    }
    return 0;
}

static int cmd_ingest(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] FILE...",
        .description = "Stores the KEY,NUMBER lines of each FILE; a malformed line rejects its file.",
        .options = ingest_options,
        .n_options = 3,
        .min_args = 1,
        .max_args = -1,
    };
    ingest_opts o = {.full_after = -1, .lock_after = -1};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_ingest_option, &o, &code);
    if (first < 0) return code;

    mc_error err;
    mc_run *run;
    if (mc_run_begin(&run, ctx, fixture_migrate, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_status failure = MC_OK;
    mc_progress *bar = mc_progress_start("ingest", argc - first);
    sqlite3 *locker = NULL;
    for (int i = first; i < argc && failure == MC_OK; i++) {
        inject_failures(run, &o, i - first, &locker);
        long rows;
        char reason[600];
        if (ingest_file(run, argv[i], &o, &rows, reason, sizeof reason) != 0) {
            mc_run_input_rejected(run, argv[i], reason);
        } else {
            mc_run_input_ok(run);
            if (ctx->json)
                mc_cli_print_json(json_pack("{s:s, s:i}", "input", argv[i], "rows", (json_int_t)rows));
            else
                printf("%s\t%ld\n", argv[i], rows);
        }
        mc_progress_add(bar, 1);
    }
    mc_progress_finish(bar);
    sqlite3_close(locker);
    return mc_run_end(run, failure);
}

static const mc_command commands[] = {
    {"ingest", "store KEY,NUMBER lines of files, one transaction per file", cmd_ingest},
};

static const mc_program program = {
    .name = "moe-fixture",
    .summary = "A test program for the shared command-line plumbing.",
    .commands = commands,
    .n_commands = 1,
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
