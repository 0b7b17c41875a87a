/* test_dicom_lengths.c: the length check that runs before GDCM reads a DICOM file
 * (dicom/dicom_lengths.h), on files built byte by byte: well-formed files in every encoding pass;
 * a length past the end of the file, of its item or of its sequence is named; a deflated data set
 * inflating beyond the memory budget and sequences nested without end are refused; the reader
 * (med_dicom_read_image) refuses a 4 GiB declaration before GDCM allocates it; and the allocation cap
 * stops GDCM on the files the fuzzer found where it reads lengths the walk does not see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "dicom/dicom.h"
#include "dicom/dicom_lengths.h"

#define UNDEF 0xffffffffu
#define EXPLICIT_LE "1.2.840.10008.1.2.1"
#define IMPLICIT_LE "1.2.840.10008.1.2"
#define EXPLICIT_BE "1.2.840.10008.1.2.2"
#define DEFLATED "1.2.840.10008.1.2.1.99"
#define RLE "1.2.840.10008.1.2.5"

typedef struct buf {
    uint8_t *b;
    size_t n, cap;
    int big, explicit;
} buf;

static void put(buf *f, const void *p, size_t n) {
    if (f->n + n > f->cap) {
        f->cap = (f->n + n) * 2;
        f->b = realloc(f->b, f->cap);
        assert_non_null(f->b);
    }
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void u16(buf *f, unsigned v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    if (f->big) b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
    put(f, b, 2);
}

static void u32(buf *f, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    if (f->big) b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
    put(f, b, 4);
}

/* an element header in f's encoding declaring len (the value is put by the caller) */
static void head(buf *f, unsigned g, unsigned e, const char *vr, uint32_t len) {
    u16(f, g);
    u16(f, e);
    if (!f->explicit || g == 0xfffe) {
        u32(f, len);
        return;
    }
    put(f, vr, 2);
    if (strstr("OB OD OF OL OV OW SQ SV UC UN UR UT UV", vr)) {
        u16(f, 0);
        u32(f, len);
    } else {
        u16(f, len);
    }
}

static void elem(buf *f, unsigned g, unsigned e, const char *vr, const char *value) {
    size_t n = strlen(value);
    head(f, g, e, vr, (uint32_t)(n + (n & 1)));
    put(f, value, n);
    if (n & 1) put(f, "", 1);
}

/* preamble, DICM and the meta group (explicit VR little endian) naming ts; f set for the data set */
static buf file_with(const char *ts) {
    buf f = {0};
    uint8_t pre[128] = {0};
    put(&f, pre, sizeof pre);
    put(&f, "DICM", 4);
    f.explicit = 1;
    elem(&f, 0x0002, 0x0010, "UI", ts);
    f.explicit = strcmp(ts, IMPLICIT_LE) != 0;
    f.big = strcmp(ts, EXPLICIT_BE) == 0;
    return f;
}

static const char *write_file(const buf *f, const char *name) {
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/lengths-%ld-%s.dcm", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", (long)getpid(), name);
    FILE *o = fopen(p, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(f->b, 1, f->n, o), f->n);
    fclose(o);
    return p;
}

static mc_status check(const buf *f, const char *name, mc_error *err) {
    const char *p = write_file(f, name);
    size_t holds = 0;
    mc_status s = med_dicom_check_lengths(p, &holds, err);
    if (s == MC_OK) assert_true(holds >= f->n);
    unlink(p);
    return s;
}

/* a data set with a sequence of undefined length holding an item of undefined length and one of
 * defined length, a sequence of defined length, and pixel data */
static void body(buf *f) {
    elem(f, 0x0008, 0x0060, "CS", "CT");
    head(f, 0x0008, 0x1115, "SQ", UNDEF);
    head(f, 0xfffe, 0xe000, "", UNDEF);
    elem(f, 0x0008, 0x1150, "UI", "1.2.3");
    head(f, 0xfffe, 0xe00d, "", 0);
    buf item = {0};
    item.big = f->big;
    item.explicit = f->explicit;
    elem(&item, 0x0008, 0x1155, "UI", "1.2.3.4");
    head(f, 0xfffe, 0xe000, "", (uint32_t)item.n);
    put(f, item.b, item.n);
    head(f, 0xfffe, 0xe0dd, "", 0);
    /* a sequence of defined length */
    head(f, 0x0008, 0x1140, "SQ", (uint32_t)(8 + item.n));
    head(f, 0xfffe, 0xe000, "", (uint32_t)item.n);
    put(f, item.b, item.n);
    free(item.b);
    head(f, 0x7fe0, 0x0010, "OW", 8);
    put(f, "\1\0\2\0\3\0\4\0", 8);
}

static void test_well_formed_in_every_encoding(void **state) {
    (void)state;
    const char *ts[] = {EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE};
    for (int i = 0; i < 3; i++) {
        buf f = file_with(ts[i]);
        body(&f);
        mc_error err = {0};
        assert_int_equal(check(&f, "good", &err), MC_OK);
        free(f.b);
    }
    /* encapsulated pixel data: offset table and two fragments */
    buf f = file_with(RLE);
    elem(&f, 0x0008, 0x0060, "CS", "CT");
    head(&f, 0x7fe0, 0x0010, "OB", UNDEF);
    head(&f, 0xfffe, 0xe000, "", 0);
    head(&f, 0xfffe, 0xe000, "", 4);
    put(&f, "abcd", 4);
    head(&f, 0xfffe, 0xe000, "", 2);
    put(&f, "ef", 2);
    head(&f, 0xfffe, 0xe0dd, "", 0);
    mc_error err = {0};
    assert_int_equal(check(&f, "rle", &err), MC_OK);
    /* the same with a fragment declaring more than the file has */
    f.n -= 8 + 2 + 8;
    head(&f, 0xfffe, 0xe000, "", 4000);
    put(&f, "ef", 2);
    assert_int_equal(check(&f, "rle_cut", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (FFFE,E000) declares 4000 bytes where 2 remain: truncated or corrupt"));
    free(f.b);
}

static void test_lengths_past_the_end(void **state) {
    (void)state;
    uint8_t pad[400] = {0};
    const char *ts[] = {EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE};
    for (int i = 0; i < 3; i++) {
        buf f = file_with(ts[i]);
        elem(&f, 0x0008, 0x0060, "CS", "CT");
        head(&f, 0x7fe0, 0x0010, "OW", 0xfffffff0u);
        put(&f, "\1\2\3\4", 4);
        mc_error err = {0};
        assert_int_equal(check(&f, "pixels", &err), MC_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "element (7FE0,0010) declares 4294967280 bytes where 4 remain: truncated or corrupt"));
        free(f.b);
    }
    /* in the meta group */
    buf f = {0};
    uint8_t pre[128] = {0};
    put(&f, pre, sizeof pre);
    put(&f, "DICM", 4);
    f.explicit = 1;
    head(&f, 0x0002, 0x0010, "UI", 60);
    put(&f, "1.2", 4);
    mc_error err = {0};
    assert_int_equal(check(&f, "meta", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (0002,0010) declares 60 bytes where 4 remain"));
    free(f.b);
    /* an implicit element in an explicit data set (read element by element, as GDCM does) */
    f = file_with(EXPLICIT_LE);
    elem(&f, 0x0008, 0x0060, "CS", "CT");
    f.explicit = 0;
    head(&f, 0x0009, 0x1001, "", 0xf0000000u);
    put(&f, "\1\2", 2);
    assert_int_equal(check(&f, "mixed", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (0009,1001) declares 4026531840 bytes where 2 remain"));
    free(f.b);
    /* an item tag out of place in an explicit data set: GDCM skips the tag alone and reads its
     * length field as the next element's tag, here (0010,0000) declaring 2 GiB */
    f = file_with(EXPLICIT_LE);
    elem(&f, 0x0008, 0x0060, "CS", "CT");
    head(&f, 0xfffe, 0xe000, "", 16);
    put(&f, "\xff\xff\xff\x7f", 4);
    put(&f, pad, 16);
    assert_int_equal(check(&f, "stray", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (0010,0000) declares 2147483647 bytes where 16 remain"));
    free(f.b);
    /* DICM followed by something other than the meta group */
    f = file_with(EXPLICIT_LE);
    f.b[132] = 0x02, f.b[133] = 0x40;
    assert_int_equal(check(&f, "nometa", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no file meta information (group 0002) after DICM"));
    free(f.b);
    /* an element inside an item longer than the item, though the file has room for it */
    f = file_with(EXPLICIT_LE);
    head(&f, 0x0008, 0x1140, "SQ", 8 + 8 + 4);
    head(&f, 0xfffe, 0xe000, "", 8 + 4);
    head(&f, 0x0008, 0x1155, "UI", 200);
    put(&f, "1.2.", 4);
    elem(&f, 0x0008, 0x0060, "CS", "CT");
    head(&f, 0x0009, 0x0010, "OB", sizeof pad);
    put(&f, pad, sizeof pad);
    assert_int_equal(check(&f, "item", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (0008,1155) declares 200 bytes where 4 remain"));
    free(f.b);
    /* an item longer than its sequence */
    f = file_with(IMPLICIT_LE);
    head(&f, 0x0008, 0x1140, "SQ", 8 + 8);
    head(&f, 0xfffe, 0xe000, "", 300);
    put(&f, pad, 8);
    put(&f, pad, sizeof pad);
    assert_int_equal(check(&f, "sequence", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (FFFE,E000) declares 300 bytes where 8 remain"));
    free(f.b);
}

static void test_nesting_without_end(void **state) {
    (void)state;
    buf f = file_with(EXPLICIT_LE);
    for (int i = 0; i < 200; i++) {
        head(&f, 0x0008, 0x1140, "SQ", UNDEF);
        head(&f, 0xfffe, 0xe000, "", UNDEF);
    }
    mc_error err = {0};
    assert_int_equal(check(&f, "deep", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "sequences nested deeper than 64"));
    free(f.b);
}

/* f's data set from byte 'from' on replaced by its raw deflate */
static void deflate_from(buf *f, size_t from) {
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)(f->n - from));
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    z.next_in = f->b + from;
    z.avail_in = (uInt)(f->n - from);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    f->n = from;
    put(f, out, cap - z.avail_out);
    deflateEnd(&z);
    free(out);
}

static void test_deflated(void **state) {
    (void)state;
    buf f = file_with(DEFLATED);
    size_t from = f.n;
    body(&f);
    deflate_from(&f, from);
    mc_error err = {0};
    assert_int_equal(check(&f, "deflated", &err), MC_OK);
    free(f.b);
    /* a length past the end of the inflated data set */
    f = file_with(DEFLATED);
    elem(&f, 0x0008, 0x0060, "CS", "CT");
    head(&f, 0x7fe0, 0x0010, "OW", 1u << 30);
    put(&f, "\1\2", 2);
    deflate_from(&f, from);
    assert_int_equal(check(&f, "deflated_cut", &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (7FE0,0010) declares 1073741824 bytes where 2 remain"));
    free(f.b);
    /* 64 MiB of zeros: a 64 KB file, beyond a 16 MiB budget */
    f = file_with(DEFLATED);
    head(&f, 0x7fe0, 0x0010, "OW", 64u << 20);
    uint8_t *zeros = calloc(1, 64u << 20);
    assert_non_null(zeros);
    put(&f, zeros, 64u << 20);
    free(zeros);
    deflate_from(&f, from);
    assert_true(f.n < 200000);
    setenv("MOESUITE_MEMORY_MB", "16", 1);
    assert_int_equal(check(&f, "bomb", &err), MC_ERR_FORMAT);
    unsetenv("MOESUITE_MEMORY_MB");
    assert_non_null(strstr(err.msg, "inflates to more than the memory budget (16 MiB)"));
    free(f.b);
}

/* the reader refuses a small file declaring 4 GiB of pixels before the DICOM library allocates */
static void test_reader_refuses_before_allocating(void **state) {
    (void)state;
    buf f = file_with(EXPLICIT_LE);
    elem(&f, 0x0008, 0x0060, "CS", "CT");
    elem(&f, 0x0028, 0x0002, "US", "\1");
    head(&f, 0x7fe0, 0x0010, "OW", 0xfffffffeu);
    put(&f, "\1\2\3\4", 4);
    const char *p = write_file(&f, "reader");
    med_dicom_image img;
    mc_error err = {0};
    assert_int_equal(med_dicom_read_image(p, &img, &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "element (7FE0,0010) declares 4294967294 bytes where 4 remain"));
    med_dicom_header *h = NULL;
    int n = 0, other = 0;
    assert_int_equal(med_dicom_scan(&p, 1, &h, &n, &other, &err), MC_OK);
    assert_int_equal(n, 1);
    assert_true(h[0].unreadable);
    assert_string_equal(h[0].problem, "element (7FE0,0010) declares 4294967294 bytes where 4 remain: truncated or corrupt");
    med_dicom_headers_free(h, n);
    unlink(p);
    free(f.b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    assert_true(ru.ru_maxrss < 1024 * 1024); /* KiB: nothing near the declared 4 GiB was taken */
}

/* Files the fuzzer found on which GDCM, reading by guesses, declared lengths the walk does not see:
 * the allocation cap refuses them as corrupt, and the process never holds the gigabytes declared. */
static void test_cap_on_guessed_lengths(void **state) {
    (void)state;
    const char *dir = getenv("MC_FUZZ_REGRESSIONS");
    assert_non_null(dir);
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/length-read-by-guess-*", dir);
    glob_t g;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 5);
    int capped = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        med_dicom_image img;
        mc_error err = {0};
        assert_int_not_equal(med_dicom_read_image(g.gl_pathv[i], &img, &err), MC_OK);
        assert_non_null(strstr(err.msg, g.gl_pathv[i]));
        capped += strstr(err.msg, "an element longer than the file holds: truncated or corrupt") != NULL;
    }
    globfree(&g);
    assert_true(capped >= 1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    assert_true(ru.ru_maxrss < 1024 * 1024);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed_in_every_encoding),
        cmocka_unit_test(test_lengths_past_the_end),
        cmocka_unit_test(test_nesting_without_end),
        cmocka_unit_test(test_deflated),
        cmocka_unit_test(test_reader_refuses_before_allocating),
        cmocka_unit_test(test_cap_on_guessed_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
