/* fuzz_fundamentals.c: moe-finance's fundamentals CSV reader (fin_fundamentals_read) on arbitrary
 * bytes, and the as-of join over what it read (symbol GBMA, as in the seeds). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fundamentals.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("fundamentals.csv", data, size);
    char err[512];
    fin_fundamentals *f = fin_fundamentals_read(path, err, sizeof err);
    if (!f) {
        if (!err[0]) abort(); /* a rejection always says why */
        return 0;
    }
    int count = fin_fundamentals_count(f);
    if (count < 1) abort();
    for (int i = 0; i < count; i++)
        if (!fin_fundamentals_field(f, i)) abort();
    static const char dates[3][11] = {"2020-01-01", "2024-03-06", "2199-12-31"};
    double *out = malloc(3 * (size_t)count * sizeof *out);
    if (!out) abort();
    fin_fundamentals_asof(f, "GBMA", dates, 3, 5, out);
    for (int i = 0; i < 3 * count; i++)
        if (isinf(out[i])) abort(); /* values are finite or NAN (no report yet) */
    free(out);
    fin_fundamentals_free(f);
    return 0;
}
