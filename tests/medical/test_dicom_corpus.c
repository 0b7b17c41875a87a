/* test_dicom_corpus.c: moe-medical's DICOM reader against pydicom over every file of Debian's
 * pydicom test data. tests/medical/pydicom_corpus.py writes what pydicom reads (rescaled pixel
 * values and the geometry tags) to $MED_PYDICOM_REF; each image must decode to the same values
 * (lossy JPEG 2000 within one unit, the decoders' rounding), with the same size, frames, sign,
 * bits allocated and MONOCHROME1 flag (three are MONOCHROME1, left uninverted as by pydicom), and
 * its header must give the same Image Position, Image Orientation and Pixel Spacing. Colour images must
 * be refused as unsupported; every other file (skipped, with pydicom's reason printed) must at least
 * not crash the reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/dicom.h"
#include "dicom/series.h"

static const char *ref_dir(void) {
    const char *d = getenv("MED_PYDICOM_REF");
    if (!d) fail_msg("MED_PYDICOM_REF is not set (run through ctest)");
    return d;
}

static float *load_f32(const char *dir, const char *name, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    float *v = malloc(n * sizeof(float));
    assert_non_null(v);
    assert_int_equal(fread(v, sizeof(float), n, f), n);
    fclose(f);
    return v;
}

/* The tag's numbers from our header text against pydicom's (a JSON array, or null when absent). */
static int check_numbers(const char *name, const char *what, const char *text, json_t *want) {
    double got[6];
    int n = med_parse_numbers(text, got, 6);
    if (json_is_null(want) || !want) {
        if (n == 0) return 0;
        printf("DIFFERS %s: %s: we read %d numbers, pydicom none\n", name, what, n);
        return 1;
    }
    if ((size_t)n != json_array_size(want)) {
        printf("DIFFERS %s: %s: %d numbers, pydicom %zu\n", name, what, n, json_array_size(want));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        double w = json_number_value(json_array_get(want, (size_t)i));
        if (fabs(got[i] - w) > 1e-9 * fmax(1, fabs(w))) {
            printf("DIFFERS %s: %s[%d] = %.10g, pydicom %.10g\n", name, what, i, got[i], w);
            return 1;
        }
    }
    return 0;
}

/* Files pydicom reads that GDCM 3.0 stops on (an assertion about their Number of Frames): the reader
 * must refuse them with a clear error, not crash. */
static const char *const gdcm_cannot[] = {"rtdose_1frame.dcm", "rtdose_expb_1frame.dcm", "rtdose_rle_1frame.dcm"};

static int gdcm_known_failure(const char *name) {
    for (size_t i = 0; i < sizeof gdcm_cannot / sizeof *gdcm_cannot; i++)
        if (strcmp(name, gdcm_cannot[i]) == 0) return 1;
    return 0;
}

static void test_corpus(void **state) {
    (void)state;
    const char *dir = ref_dir();
    char path[1024];
    snprintf(path, sizeof path, "%s/index.json", dir);
    json_error_t jerr;
    json_t *index = json_load_file(path, 0, &jerr);
    if (!index) fail_msg("%s: %s", path, jerr.text);
    int compared = 0, refused = 0, skipped = 0, failures = 0;
    size_t i;
    json_t *e;
    json_array_foreach(index, i, e) {
        const char *file = json_string_value(json_object_get(e, "path"));
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *status = json_string_value(json_object_get(e, "status"));
        med_dicom_image img;
        mc_error err;
        mc_status st = med_dicom_read_image(file, &img, &err);
        if (strcmp(status, "unsupported") == 0) {
            if (st != MC_ERR_UNSUPPORTED) {
                printf("DIFFERS %s: a colour image, read with status %d (%s)\n", name, st, err.msg);
                failures++;
            }
            refused++;
            continue;
        }
        if (strcmp(status, "skip") == 0) {
            printf("skipped %-45s pydicom: %s; ours: %s\n", name, json_string_value(json_object_get(e, "reason")),
                   st == MC_OK ? "decoded" : err.msg);
            med_dicom_image_free(&img);
            skipped++;
            continue;
        }
        if (st == MC_ERR_FORMAT && gdcm_known_failure(name)) {
            printf("skipped %-45s GDCM cannot read it: %s\n", name, err.msg);
            skipped++;
            continue;
        }
        if (st != MC_OK) {
            printf("DIFFERS %s: pydicom reads it, we do not: %s\n", name, err.msg);
            failures++;
            continue;
        }
        int rows = (int)json_integer_value(json_object_get(e, "rows"));
        int cols = (int)json_integer_value(json_object_get(e, "cols"));
        int frames = (int)json_integer_value(json_object_get(e, "frames"));
        if (img.rows != rows || img.cols != cols || img.frames != frames) {
            printf("DIFFERS %s: %dx%dx%d, pydicom %dx%dx%d\n", name, img.cols, img.rows, img.frames, cols, rows, frames);
            med_dicom_image_free(&img);
            failures++;
            continue;
        }
        int mono1 = json_is_true(json_object_get(e, "monochrome1")), sign = json_is_true(json_object_get(e, "signed"));
        int bits = (int)json_integer_value(json_object_get(e, "bits_allocated"));
        if (img.inverted != mono1 || img.is_signed != sign || img.bits_allocated != bits) {
            printf("DIFFERS %s: MONOCHROME1 %d, signed %d, %d bits; pydicom %d, %d, %d\n", name, img.inverted,
                   img.is_signed, img.bits_allocated, mono1, sign, bits);
            med_dicom_image_free(&img);
            failures++;
            continue;
        }
        size_t n = (size_t)rows * (size_t)cols * (size_t)frames;
        float *want = load_f32(dir, json_string_value(json_object_get(e, "data")), n);
        double tol = json_is_true(json_object_get(e, "lossy")) ? 1.0 * fabs(img.slope) : 0.0;
        size_t differ = 0;
        double worst = 0;
        for (size_t p = 0; p < n; p++) {
            double d = fabs((double)img.values[p] - (double)want[p]);
            if (d > tol) differ++;
            if (d > worst) worst = d;
        }
        free(want);
        med_dicom_image_free(&img);
        if (differ) {
            printf("DIFFERS %s: %zu of %zu values differ from pydicom (worst by %g)\n", name, differ, n, worst);
            failures++;
            continue;
        }

        med_dicom_header *h;
        int nh, other;
        assert_int_equal(med_dicom_scan(&file, 1, &h, &nh, &other, &err), MC_OK);
        assert_int_equal(nh, 1);
        int geometry = check_numbers(name, "Image Position", h[0].position, json_object_get(e, "position")) +
                       check_numbers(name, "Image Orientation", h[0].orientation, json_object_get(e, "orientation")) +
                       check_numbers(name, "Pixel Spacing", h[0].pixel_spacing, json_object_get(e, "spacing"));
        med_dicom_headers_free(h, nh);
        if (geometry) {
            failures++;
            continue;
        }
        printf("same    %-45s %dx%dx%d %s%s\n", name, cols, rows, frames,
               json_string_value(json_object_get(e, "source")), tol > 0 ? " (lossy: within one unit)" : "");
        compared++;
    }
    json_decref(index);
    printf("%d images the same as pydicom, %d colour images refused, %d files skipped, %d differ\n", compared, refused,
           skipped, failures);
    assert_int_equal(failures, 0);
    assert_true(compared >= 40);
    assert_true(refused >= 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
