/* fuzz_prices.c: moe-finance's price CSV reader (fin_prices_read) on arbitrary bytes, under both
 * bad-row policies: it returns bars that pass its own checks, or an error naming the problem. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_io.h"
#include "prices.h"

static void ignore_row(void *user, const char *path, const char *message) {
    (void)user;
    (void)path;
    if (!message[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("FUZZ.csv", data, size);
    for (int policy = FIN_BAD_ROWS_REJECT; policy <= FIN_BAD_ROWS_DROP; policy++) {
        fin_prices *p = NULL;
        int n = 0;
        char err[512];
        if (fin_prices_read(path, (fin_bad_rows)policy, ignore_row, NULL, &p, &n, err, sizeof err) != 0) {
            if (!err[0]) abort(); /* a rejection always says why */
            continue;
        }
        for (int s = 0; s < n; s++)
            for (int i = 0; i < p[s].n; i++)
                if (!(p[s].low[i] > 0 && p[s].high[i] >= p[s].low[i] && p[s].volume[i] >= 0) ||
                    (i > 0 && strcmp(p[s].date[i - 1], p[s].date[i]) >= 0))
                    abort(); /* a bar the reader's own checks should have refused */
        fin_prices_free(p, n);
    }
    return 0;
}
