/* fuzz_clinical.c: moe-medical's clinical CSV reader (med_clinical_read, with the facts it takes
 * from free-text notes) on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_io.h"
#include "risk/clinical.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("clinical.csv", data, size);
    med_clinical *rows = NULL;
    int n = 0;
    mc_error err;
    if (med_clinical_read(path, &rows, &n, &err) != MC_OK) {
        if (!err.msg[0] || rows) abort(); /* a rejection says why and returns nothing */
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (!rows[i].id || !rows[i].note) abort();
    med_clinical_free(rows, n);
    return 0;
}
