/* fuzz_dicom_series.c: moe-medical's series assembly on arbitrary bytes: an input holds up to 8
 * DICOM files separated by lines "--8<--", written to one folder, scanned and grouped into series
 * (med_collection_scan, two slices allowed) and every usable series read into a volume
 * (med_series_read); the last bit of the input's size picks the gap policy. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dicom/series.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part part[8];
    int n = fuzz_split(data, size, FUZZ_FILE_SEP, part, 8);
    const char *dir = fuzz_mkdir("series");
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "series/IMG_%d.dcm", i);
        fuzz_write(name, part[i].data, part[i].size);
    }
    const med_series_options opt = {2, (size & 1) ? MED_GAPS_RESAMPLE : MED_GAPS_REJECT};
    med_collection c;
    mc_error err;
    if (med_collection_scan(&c, &dir, 1, &opt, &err) != MC_OK) {
        if (!err.msg[0]) abort(); /* a failure always says why */
        return 0;
    }
    if (c.n_files + c.n_other != n) abort();
    for (int i = 0; i < c.n_series; i++) {
        if (!c.series[i].usable) continue;
        med_volume *v = NULL;
        if (med_series_read(&c.series[i], &opt, &v, &err) == MC_OK) {
            if (v->nx < 1 || v->ny < 1 || v->nz < 2) abort();
            med_volume_free(v);
        } else if (!err.msg[0] || v) {
            abort();
        }
    }
    med_collection_free(&c);
    return 0;
}
