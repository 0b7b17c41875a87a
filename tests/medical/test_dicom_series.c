/* test_dicom_series.c: moe-medical's DICOM reading: lossless round trips through every codec we
 * write, series building in a folder with several series, junk and a truncated file, slice order by
 * position (not name, Instance Number or Slice Location), each problem a series can have, resampling
 * of a missing slice, the NIfTI affine read back with nifticlib, the pseudonym hash, and the world
 * position of a planted phantom nodule after writing and reading back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nifti1_io.h>

#include "dicom/dicom.h"
#include "med_schema.h"
#include "dicom/nifti_out.h"
#include "phantom/phantom.h"
#include "dicom/series.h"

enum { W = 12, H = 10 };

static char *tmpdir(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/dicom-%s-%ld", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", name, (long)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(mkdir(p, 0777), 0);
    return p;
}

/* The stored value of voxel (i, j) of slice k in the test series: distinct per voxel and slice. */
static int16_t stored_at(int i, int j, int k) { return (int16_t)(i * 7 + j * 131 + k * 1009 - 2000); }

/* Writes one slice of series uid at position z (world, along orientation's normal for axial). */
static void write_one(const char *path, const char *uid, const double pos[3], const double iop[6], int instance,
                      int k, med_dicom_codec codec, int is_unsigned) {
    int16_t pix[W * H];
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            int16_t v = stored_at(i, j, k);
            pix[j * W + i] = is_unsigned ? (int16_t)(uint16_t)(v + 3000) : v;
        }
    med_dicom_slice s = {.study_uid = "1.2.3.4", .series_uid = uid, .sop_uid = "1.2.3.4.5", .patient_id = "P1",
                         .patient_name = "TEST^PATIENT", .series_number = 1, .instance_number = instance, .rows = H,
                         .cols = W, .pixels = pix, .is_unsigned = is_unsigned, .slope = 1,
                         .intercept = is_unsigned ? -3000 - 24 : -24, .pixel_spacing = {0.75, 0.5},
                         .slice_thickness = 5.0, .codec = codec};
    memcpy(s.position, pos, sizeof s.position);
    memcpy(s.orientation, iop, sizeof s.orientation);
    mc_error err;
    assert_int_equal(med_dicom_write_slice(path, &s, &err), MC_OK);
}

static const double axial[6] = {1, 0, 0, 0, 1, 0};

/* n slices of series uid in dir at z[k] (slice k carries stored_at(., ., k)), named so that the
 * file name order is not the position order, with descending instance numbers. */
static void write_series(const char *dir, const char *uid, int n, const double *z, const double iop[6],
                         med_dicom_codec codec) {
    for (int k = 0; k < n; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s_%02d.dcm", dir, uid, (k * 7) % n);
        double pos[3] = {-10, 20, z[k]};
        write_one(path, uid, pos, iop, n - k, k, codec, 0);
    }
}

static void test_sha1(void **state) {
    (void)state;
    char hex[41];
    assert_int_equal(med_dicom_sha1_hex("abc", 3, hex), MC_OK);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d"); /* FIPS 180 test vector */
    med_patient_hash(NULL, "P1", hex);
    assert_string_equal(hex, "");
    char a[41], b[41];
    med_patient_hash("s1", "P1", a);
    med_patient_hash("s2", "P1", b);
    assert_int_equal(strlen(a), 40);
    assert_string_not_equal(a, b);
}

/* Every codec we write decodes to the exact stored values, signed and unsigned, rescaled. */
static void test_codec_round_trip(void **state) {
    (void)state;
    const char *dir = tmpdir("codec");
    for (int c = 0; c < MED_CODEC_COUNT; c++) {
        for (int u = 0; u < 2; u++) {
            char path[700];
            snprintf(path, sizeof path, "%s/%s-%d.dcm", dir, med_dicom_codec_name((med_dicom_codec)c), u);
            double pos[3] = {1, 2, 3};
            write_one(path, "1.2.3.9", pos, axial, 1, 3, (med_dicom_codec)c, u);
            med_dicom_image img;
            mc_error err;
            assert_int_equal(med_dicom_read_image(path, &img, &err), MC_OK);
            assert_int_equal(img.cols, W);
            assert_int_equal(img.rows, H);
            assert_int_equal(img.frames, 1);
            assert_int_equal(img.is_signed, !u);
            for (int j = 0; j < H; j++)
                for (int i = 0; i < W; i++) {
                    if (img.values[j * W + i] != (float)(stored_at(i, j, 3) - 24))
                        fail_msg("%s unsigned=%d: (%d,%d) = %g, want %d", med_dicom_codec_name((med_dicom_codec)c), u,
                                 i, j, img.values[j * W + i], stored_at(i, j, 3) - 24);
                }
            med_dicom_image_free(&img);
            /* the header says which transfer syntax it is */
            med_dicom_header *h;
            int n, other;
            const char *p = path;
            assert_int_equal(med_dicom_scan(&p, 1, &h, &n, &other, &err), MC_OK);
            assert_int_equal(n, 1);
            assert_string_equal(h[0].transfer_syntax, med_dicom_codec_uid((med_dicom_codec)c));
            med_dicom_headers_free(h, n);
        }
    }
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static const med_series *find(const med_collection *c, const char *uid) {
    for (int i = 0; i < c->n_series; i++)
        if (strcmp(c->series[i].series_uid, uid) == 0) return &c->series[i];
    fail_msg("series %s not found", uid);
    return NULL;
}

static int has_problem(const med_series *s, const char *text) {
    for (int i = 0; i < s->n_problems; i++)
        if (strstr(s->problems[i], text)) return 1;
    return 0;
}

/* A folder with a good series, series with each problem, junk and a truncated DICOM file. */
static void test_series_building(void **state) {
    (void)state;
    const char *dir = tmpdir("series");
    char sub[600], cmd[700];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sub);
    assert_int_equal(system(cmd), 0);
    /* good: 12 slices, 2.5 mm apart, written in shuffled order, over two folders */
    double z[16];
    for (int k = 0; k < 12; k++) z[k] = -100 + 2.5 * k;
    write_series(sub, "1.9.1", 12, z, axial, MED_CODEC_EXPLICIT_LE);
    /* a missing slice: 12 positions with the 6th left out */
    double zm[12];
    for (int k = 0, q = 0; k < 12; k++)
        if (k != 5) zm[q++] = 10 + 1.25 * k;
    write_series(dir, "1.9.2", 11, zm, axial, MED_CODEC_RLE);
    /* a duplicate position */
    double zd[12];
    for (int k = 0; k < 12; k++) zd[k] = 2.0 * (k == 7 ? 6 : k);
    write_series(dir, "1.9.3", 12, zd, axial, MED_CODEC_EXPLICIT_LE);
    /* too few slices */
    write_series(dir, "1.9.4", 3, z, axial, MED_CODEC_EXPLICIT_LE);
    /* mixed orientations: one slice turned */
    write_series(dir, "1.9.5", 12, z, axial, MED_CODEC_EXPLICIT_LE);
    {
        double turned[6] = {1, 0, 0, 0, 0.8, -0.6}, pos[3] = {-10, 20, 50};
        char path[700];
        snprintf(path, sizeof path, "%s/1.9.5_turned.dcm", dir);
        write_one(path, "1.9.5", pos, turned, 99, 0, MED_CODEC_EXPLICIT_LE, 0);
    }
    /* gantry tilt: the positions drift in y as they go along z */
    for (int k = 0; k < 12; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/tilt_%02d.dcm", dir, k);
        double pos[3] = {-10, 20 + 0.5 * k, 2.5 * k};
        write_one(path, "1.9.6", pos, axial, k + 1, k, MED_CODEC_EXPLICIT_LE, 0);
    }
    /* an oblique but consistent series: sorted along its own normal */
    double obl[6] = {1, 0, 0, 0, 0.8, -0.6}; /* normal = (0, 0.6, 0.8) */
    for (int k = 0; k < 12; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/obl_%02d.dcm", dir, 11 - k);
        double pos[3] = {5, 0.6 * 2.0 * k, 0.8 * 2.0 * k};
        write_one(path, "1.9.7", pos, obl, k + 1, k, MED_CODEC_JPEG_LS, 0);
    }
    /* junk: text, empty, random bytes, and a DICOM file cut in half */
    char path[700];
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_file(path, "not a DICOM file\n", 17);
    snprintf(path, sizeof path, "%s/empty.dcm", dir);
    write_file(path, "", 0);
    unsigned char rnd[3000];
    for (int i = 0; i < 3000; i++) rnd[i] = (unsigned char)(i * 73 + 11);
    snprintf(path, sizeof path, "%s/random.bin", dir);
    write_file(path, rnd, sizeof rnd);
    {
        char good[700], cut[700];
        snprintf(good, sizeof good, "%s/1.9.1_00.dcm", sub);
        snprintf(cut, sizeof cut, "%s/cut.dcm", dir);
        FILE *f = fopen(good, "rb");
        assert_non_null(f);
        unsigned char buf[200];
        assert_int_equal(fread(buf, 1, sizeof buf, f), sizeof buf);
        fclose(f);
        write_file(cut, buf, 200); /* the preamble, DICM and part of the meta header */
    }

    med_series_options opt = MED_SERIES_OPTIONS_DEFAULT;
    med_collection c;
    mc_error err;
    const char *root = dir;
    assert_int_equal(med_collection_scan(&c, &root, 1, &opt, &err), MC_OK);
    assert_int_equal(c.n_series, 7);
    assert_int_equal(c.n_other, 3); /* text, empty, random */
    int unreadable = 0;
    for (int i = 0; i < c.n_files; i++)
        if (c.files[i].unreadable) {
            unreadable++;
            assert_non_null(strstr(c.files[i].path, "cut.dcm"));
        }
    assert_int_equal(unreadable, 1);

    const med_series *s = find(&c, "1.9.1");
    assert_true(s->usable);
    assert_int_equal(s->n_slices, 12);
    assert_int_equal(s->n_problems, 0);
    assert_float_equal(s->spacing[0], 0.5, 1e-9);  /* column spacing: Pixel Spacing's second value */
    assert_float_equal(s->spacing[1], 0.75, 1e-9);
    assert_float_equal(s->spacing[2], 2.5, 1e-9);  /* from positions, not the 5 mm Slice Thickness */
    assert_float_equal(s->slice_thickness, 5.0, 1e-9);
    assert_float_equal(s->origin[2], -100, 1e-9);
    assert_string_equal(s->folder, sub);
    for (int k = 0; k < 12; k++) assert_float_equal(s->along[k], -100 + 2.5 * k, 1e-9);
    med_volume *v;
    assert_int_equal(med_series_read(s, &opt, &v, &err), MC_OK);
    assert_int_equal(v->nz, 12);
    for (int k = 0; k < 12; k++) /* slice k of the volume is the file written for position k */
        assert_float_equal(v->hu[med_volume_index(v, 3, 4, k)], stored_at(3, 4, k) - 24, 0);
    med_volume_free(v);

    s = find(&c, "1.9.2");
    assert_false(s->usable);
    assert_true(has_problem(s, "missing slices: 1 absent at 1.250 mm"));
    s = find(&c, "1.9.3");
    assert_false(s->usable);
    assert_true(has_problem(s, "duplicate slice position 12.000 mm"));
    s = find(&c, "1.9.4");
    assert_false(s->usable);
    assert_true(has_problem(s, "too few slices: 3 (at least 10 needed)"));
    s = find(&c, "1.9.5");
    assert_false(s->usable);
    assert_true(has_problem(s, "mixed orientations"));
    s = find(&c, "1.9.6");
    assert_false(s->usable);
    assert_true(has_problem(s, "gantry tilt: the slice positions drift 11.31 degrees"));
    s = find(&c, "1.9.7");
    assert_true(s->usable);
    assert_float_equal(s->normal[1], 0.6, 1e-9);
    assert_float_equal(s->normal[2], 0.8, 1e-9);
    assert_float_equal(s->spacing[2], 2.0, 1e-9);
    assert_int_equal(med_series_read(s, &opt, &v, &err), MC_OK);
    for (int k = 0; k < 12; k++) assert_float_equal(v->hu[med_volume_index(v, 0, 0, k)], stored_at(0, 0, k) - 24, 0);
    med_volume_free(v);
    med_collection_free(&c);

    /* with --gaps resample the missing slice is interpolated from its neighbours */
    opt.gaps = MED_GAPS_RESAMPLE;
    assert_int_equal(med_collection_scan(&c, &root, 1, &opt, &err), MC_OK);
    s = find(&c, "1.9.2");
    assert_true(s->usable);
    assert_true(has_problem(s, "(resampled)"));
    assert_int_equal(med_series_read(s, &opt, &v, &err), MC_OK);
    assert_int_equal(v->nz, 12);
    /* grid slice 5 lies halfway between written slices 4 and 5 */
    float want = 0.5f * (float)(stored_at(2, 3, 4) - 24) + 0.5f * (float)(stored_at(2, 3, 5) - 24);
    assert_float_equal(v->hu[med_volume_index(v, 2, 3, 5)], want, 1e-3);
    assert_float_equal(v->hu[med_volume_index(v, 2, 3, 11)], stored_at(2, 3, 10) - 24, 1e-3);
    med_volume_free(v);
    med_collection_free(&c);
}

/* The affine in the file, read back by nifticlib, maps voxels to RAS = (-x, -y, z) of LPS. */
static void test_nifti_affine(void **state) {
    (void)state;
    const char *dir = tmpdir("nifti");
    double sp[3] = {0.7, 0.8, 2.5}, org[3] = {-120.5, 33.25, -400};
    double c = cos(0.3), s = sin(0.3);
    double dir3[3][3] = {{c, s, 0}, {-s, c, 0}, {0, 0, 1}};
    med_volume *v = med_volume_new(5, 4, 3, sp, org, dir3, 0);
    assert_non_null(v);
    for (int i = 0; i < 60; i++) v->hu[i] = (float)(i - 30);
    char path[700];
    snprintf(path, sizeof path, "%s/v.nii.gz", dir);
    mc_error err;
    assert_int_equal(med_nifti_write(path, v, &err), MC_OK);
    nifti_image *nim = nifti_image_read(path, 1);
    assert_non_null(nim);
    assert_int_equal(nim->datatype, DT_INT16);
    assert_int_equal(nim->nx, 5);
    assert_int_equal(nim->nz, 3);
    assert_int_equal(nim->sform_code, NIFTI_XFORM_SCANNER_ANAT);
    assert_int_equal(nim->qform_code, NIFTI_XFORM_SCANNER_ANAT);
    assert_int_equal(((int16_t *)nim->data)[37], 7);
    int probes[3][3] = {{0, 0, 0}, {4, 3, 2}, {1, 2, 1}};
    for (int p = 0; p < 3; p++) {
        double ijk[3] = {probes[p][0], probes[p][1], probes[p][2]}, lps[3];
        med_volume_to_world(v, ijk, lps);
        double ras[3] = {-lps[0], -lps[1], lps[2]};
        for (int a = 0; a < 3; a++) {
            double viaS = nim->sto_xyz.m[a][0] * ijk[0] + nim->sto_xyz.m[a][1] * ijk[1] + nim->sto_xyz.m[a][2] * ijk[2] +
                          nim->sto_xyz.m[a][3];
            double viaQ = nim->qto_xyz.m[a][0] * ijk[0] + nim->qto_xyz.m[a][1] * ijk[1] + nim->qto_xyz.m[a][2] * ijk[2] +
                          nim->qto_xyz.m[a][3];
            assert_float_equal(viaS, ras[a], 1e-3);
            assert_float_equal(viaQ, ras[a], 1e-3);
        }
    }
    nifti_image_free(nim);
    /* non-integer values are kept as float32 */
    v->hu[0] = 0.5f;
    assert_int_equal(med_nifti_write(path, v, &err), MC_OK);
    nim = nifti_image_read(path, 1);
    assert_non_null(nim);
    assert_int_equal(nim->datatype, DT_FLOAT32);
    assert_float_equal(((float *)nim->data)[0], 0.5, 0);
    nifti_image_free(nim);
    snprintf(path, sizeof path, "%s/v.img", dir);
    assert_int_equal(med_nifti_write(path, v, &err), MC_ERR_ARG);
    med_volume_free(v);
}

/* Flood fill over voxels brighter than thr from a seed, within radius r of it; centroid in ijk. */
static int blob_centroid(const med_volume *v, const int seed[3], float thr, double r, double c[3]) {
    size_t n = (size_t)v->nx * v->ny * v->nz;
    unsigned char *seen = calloc(n, 1);
    int *stack = malloc(sizeof(int) * 3 * n);
    assert_true(seen && stack);
    int top = 0, count = 0;
    c[0] = c[1] = c[2] = 0;
    if (v->hu[med_volume_index(v, seed[0], seed[1], seed[2])] > thr) {
        memcpy(stack, seed, sizeof(int) * 3);
        top = 1;
        seen[med_volume_index(v, seed[0], seed[1], seed[2])] = 1;
    }
    while (top > 0) {
        top--;
        int p[3] = {stack[3 * top], stack[3 * top + 1], stack[3 * top + 2]};
        for (int a = 0; a < 3; a++) c[a] += p[a];
        count++;
        static const int nb[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
        for (int q = 0; q < 6; q++) {
            int x = p[0] + nb[q][0], y = p[1] + nb[q][1], z = p[2] + nb[q][2];
            if (x < 0 || y < 0 || z < 0 || x >= v->nx || y >= v->ny || z >= v->nz) continue;
            double d2 = 0, dd[3] = {(x - seed[0]) * v->spacing[0], (y - seed[1]) * v->spacing[1],
                                   (z - seed[2]) * v->spacing[2]};
            for (int a = 0; a < 3; a++) d2 += dd[a] * dd[a];
            size_t idx = med_volume_index(v, x, y, z);
            if (seen[idx] || d2 > r * r || v->hu[idx] <= thr) continue;
            seen[idx] = 1;
            stack[3 * top] = x;
            stack[3 * top + 1] = y;
            stack[3 * top + 2] = z;
            top++;
        }
    }
    free(seen);
    free(stack);
    for (int a = 0; a < 3; a++) c[a] /= count > 0 ? count : 1;
    return count;
}

/* Phantom studies written through GDCM and read back: each solid nodule clear of vessels and
 * pleura is a bright blob at the annotated world position, within one voxel. */
static void test_phantom_nodule_position(void **state) {
    (void)state;
    const char *dir = tmpdir("phantom");
    med_phantom_options o = {.n = 3, .size = 96, .slices = 48, .seed = 11};
    mc_error err;
    assert_int_equal(med_phantom_write(dir, &o, NULL, NULL, &err), MC_OK);
    char path[700];
    snprintf(path, sizeof path, "%s/nodules.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    med_series_options opt = MED_SERIES_OPTIONS_DEFAULT;
    med_collection c;
    const char *root = dir;
    assert_int_equal(med_collection_scan(&c, &root, 1, &opt, &err), MC_OK);
    assert_int_equal(c.n_series, 3);
    char line[512];
    int checked = 0;
    assert_non_null(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        char uid[80], type[32], shape[32], touches[32];
        double w[3], d;
        assert_int_equal(sscanf(line, "%79[^,],%lf,%lf,%lf,%lf,%31[^,],%31[^,],%31s", uid, &w[0], &w[1], &w[2], &d, type,
                                shape, touches),
                         8);
        const med_series *s = find(&c, uid);
        assert_true(s->usable);
        if (strcmp(type, "solid") != 0 || strcmp(touches, "none") != 0 || d < 6) continue;
        med_volume *v;
        assert_int_equal(med_series_read(s, &opt, &v, &err), MC_OK);
        double ijk[3];
        med_volume_to_voxel(v, w, ijk);
        int seed[3] = {(int)lround(ijk[0]), (int)lround(ijk[1]), (int)lround(ijk[2])};
        double cen[3];
        int n = blob_centroid(v, seed, -300, 0.5 * d + 2 * v->spacing[0], cen);
        assert_true(n > 3);
        for (int a = 0; a < 3; a++)
            if (fabs(cen[a] - ijk[a]) > 1.0)
                fail_msg("%s: nodule at (%g, %g, %g) mm, %g mm: blob centre off by %g voxels on axis %d", uid, w[0], w[1],
                         w[2], d, cen[a] - ijk[a], a);
        checked++;
        med_volume_free(v);
    }
    fclose(f);
    med_collection_free(&c);
    assert_true(checked >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1),
        cmocka_unit_test(test_codec_round_trip),
        cmocka_unit_test(test_series_building),
        cmocka_unit_test(test_nifti_affine),
        cmocka_unit_test(test_phantom_nodule_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
