/* fuzz_luna_csv.c: moe-medical's LUNA16 evaluation readers on arbitrary bytes: the same input read
 * as annotations, as irrelevant findings, as predictions (med_marks_read) and as a scan list
 * (med_scan_list_read). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "eval/luna_csv.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("marks.csv", data, size);
    mc_error err;
    for (int kind = MED_MARKS_ANNOTATIONS; kind <= MED_MARKS_PREDICTIONS; kind++) {
        med_marks m;
        if (med_marks_read(path, (med_marks_kind)kind, &m, &err) != MC_OK) {
            if (!err.msg[0]) abort(); /* a rejection always says why */
            continue;
        }
        for (int i = 0; i < m.n; i++)
            if (!m.v[i].seriesuid || !isfinite(m.v[i].x + m.v[i].y + m.v[i].z + m.v[i].value) ||
                (kind == MED_MARKS_ANNOTATIONS && !(m.v[i].value > 0)))
                abort();
        med_marks_free(&m);
    }
    char **uids = NULL;
    int n = 0;
    if (med_scan_list_read(path, &uids, &n, &err) == MC_OK) med_scan_list_free(uids, n);
    else if (!err.msg[0]) abort();
    return 0;
}
