/* fuzz_tune_log.c: the readers of `moe-factory tune propose` on arbitrary bytes: the parameter
 * bounds (fab_read_bounds) and, with the bounds read, the log of batches (fab_read_history) with
 * the objective column "quality". An input holds the bounds, then a line "--8<--" and the log. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_io.h"
#include "tune/tune_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part part[2];
    int n = fuzz_split(data, size, FUZZ_FILE_SEP, part, 2);
    const char *path = fuzz_write("bounds.csv", part[0].data, part[0].size);
    fab_bounds_table b;
    char reason[512];
    if (fab_read_bounds(path, &b, reason, sizeof reason) != 0) {
        if (!reason[0]) abort(); /* a rejection always says why */
        return 0;
    }
    for (int i = 0; i < b.d; i++)
        if (!(b.min[i] <= b.max[i])) abort();
    if (n < 2) return 0;
    path = fuzz_write("history.csv", part[1].data, part[1].size);
    fab_history_table h;
    if (fab_read_history(path, &b, "quality", &h, reason, sizeof reason) != 0) {
        if (!reason[0]) abort();
        return 0;
    }
    for (int r = 0; r < h.n; r++) /* a measured objective is finite; a pending one is NaN */
        if (h.pending[r] ? !isnan(h.y[r]) : !isfinite(h.y[r])) abort();
    fab_history_free(&h);
    return 0;
}
