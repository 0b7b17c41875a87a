/* fuzz_dicom.c: moe-medical's reading of one DICOM file through the GDCM shim, on arbitrary bytes:
 * its header as a scan finds it (med_dicom_scan), the series that one file makes
 * (med_series_build, one slice allowed), and its pixels (med_dicom_read_image). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "dicom/dicom.h"
#include "dicom/series.h"
#include "fuzz_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("slice.dcm", data, size);
    const char *paths[1] = {path};
    med_dicom_header *h = NULL;
    int n = 0, n_other = 0;
    mc_error err;
    if (med_dicom_scan(paths, 1, &h, &n, &n_other, &err) != MC_OK) abort(); /* the file exists */
    if (n + n_other != 1) abort();
    const med_series_options opt = {1, MED_GAPS_REJECT};
    med_series *s = NULL;
    int n_series = 0;
    if (med_series_build(h, n, &opt, &s, &n_series, &err) == MC_OK) med_series_free(s, n_series);
    med_dicom_headers_free(h, n);

    med_dicom_image img;
    if (med_dicom_read_image(path, &img, &err) != MC_OK) {
        if (!err.msg[0] || img.values) abort(); /* a rejection says why and returns nothing */
        return 0;
    }
    if (img.cols < 1 || img.rows < 1 || img.frames < 1) abort();
    med_dicom_image_free(&img);
    return 0;
}
