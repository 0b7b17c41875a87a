/* luna_csv.c: the LUNA16 annotations, predictions and scan-list files. */
#include "luna_csv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void med_marks_free(med_marks *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) free(m->v[i].seriesuid);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

mc_status med_marks_read(const char *path, med_marks_kind kind, med_marks *out, mc_error *err) {
    out->v = NULL;
    out->n = 0;
    med_csv c;
    mc_status st = med_csv_open(&c, path, err);
    if (st != MC_OK) return st;
    const char *value_name = kind == MED_MARKS_PREDICTIONS ? "probability" : "diameter_mm";
    const char *names[5] = {"seriesuid", "coordX", "coordY", "coordZ", value_name};
    int col[5], cap = 0, r = med_csv_next(&c, err);
    if (r < 0) goto fail;
    if (r == 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: empty file (expected a header: seriesuid,coordX,coordY,coordZ,%s)",
                          path, value_name);
        goto done;
    }
    int need = 0;
    for (int k = 0; k < 5; k++) {
        col[k] = med_csv_find(&c, names[k]);
        if (col[k] < 0) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: header has no '%s' column", path, c.line, names[k]);
            goto done;
        }
        if (col[k] + 1 > need) need = col[k] + 1;
    }
    while ((r = med_csv_next(&c, err)) == 1) {
        if (c.n < need) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: %d fields, the header needs %d", path, c.line, c.n, need);
            goto done;
        }
        const char *uid = c.field[col[0]];
        if (!*uid) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: empty seriesuid", path, c.line);
            goto done;
        }
        double v[4];
        for (int k = 0; k < 4; k++) {
            if (med_csv_real(c.field[col[k + 1]], &v[k]) != 0) {
                st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: %s '%.40s' is not a finite number", path, c.line,
                                  names[k + 1], c.field[col[k + 1]]);
                goto done;
            }
        }
        if (kind == MED_MARKS_ANNOTATIONS && v[3] <= 0) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: diameter_mm %g is not positive", path, c.line, v[3]);
            goto done;
        }
        if (kind == MED_MARKS_EXCLUDED && v[3] < 0) v[3] = 10.0;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            med_mark *nv = realloc(out->v, sizeof *nv * (size_t)cap);
            if (!nv) goto nomem;
            out->v = nv;
        }
        med_mark *m = &out->v[out->n];
        m->seriesuid = strdup(uid);
        if (!m->seriesuid) goto nomem;
        m->x = v[0];
        m->y = v[1];
        m->z = v[2];
        m->value = v[3];
        m->line = c.line;
        out->n++;
    }
    if (r < 0) goto fail;
    st = MC_OK;
    goto done;
nomem:
    st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    goto done;
fail:
    st = err ? err->code : MC_ERR_FORMAT;
done:
    med_csv_close(&c);
    if (st != MC_OK) med_marks_free(out);
    return st;
}

void med_scan_list_free(char **uids, int n) {
    if (!uids) return;
    for (int i = 0; i < n; i++) free(uids[i]);
    free(uids);
}

mc_status med_scan_list_read(const char *path, char ***uids, int *n, mc_error *err) {
    *uids = NULL;
    *n = 0;
    med_csv c;
    mc_status st = med_csv_open(&c, path, err);
    if (st != MC_OK) return st;
    char **v = NULL;
    int cnt = 0, cap = 0, r;
    while ((r = med_csv_next(&c, err)) == 1) {
        const char *uid = c.field[0];
        if (!*uid) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: empty seriesuid", path, c.line);
            goto done;
        }
        if (c.line == 1 && strcasecmp(uid, "seriesuid") == 0) continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv) goto nomem;
            v = nv;
        }
        if (!(v[cnt] = strdup(uid))) goto nomem;
        cnt++;
    }
    if (r < 0) {
        st = err ? err->code : MC_ERR_FORMAT;
        goto done;
    }
    if (cnt == 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: no seriesuid listed", path);
        goto done;
    }
    int first, again, twice = med_csv_repeated(v, cnt, sizeof *v, 0, &first, &again);
    if (twice < 0) goto nomem;
    if (twice) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: seriesuid %.80s is listed twice", path, v[again]);
        goto done;
    }
    *uids = v;
    *n = cnt;
    v = NULL;
    st = MC_OK;
    goto done;
nomem:
    st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
done:
    if (v) med_scan_list_free(v, cnt);
    med_csv_close(&c);
    return st;
}
