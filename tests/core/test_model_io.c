/* test_model_io.c: safetensors model files: round trip of every dtype, hostile and corrupted files
 * rejected with the right status and message, and saves that fail without touching the target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moecore/model_io.h"

/* A file in the scratch folder. */
static const char *tmp_path(char *buf, size_t cap, const char *name) {
    const char *dir = getenv("MC_TEST_TMP");
    snprintf(buf, cap, "%s/mio_%s", dir && *dir ? dir : "/tmp", name);
    return buf;
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* The whole file, malloc'ed; *n its size. */
static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    assert_true(size >= 0);
    rewind(fp);
    unsigned char *b = malloc((size_t)size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return b;
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* A safetensors file from a header text and data_len bytes of data (zeros when data is NULL). */
static void write_st(const char *path, const char *json, const void *data, size_t data_len) {
    size_t len = strlen(json);
    unsigned char *b = calloc(1, 8 + len + data_len);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(b + 8, json, len);
    if (data) memcpy(b + 8 + len, data, data_len);
    write_bytes(path, b, 8 + len + data_len);
    free(b);
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static size_t numel(const mc_st_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* ---- round trip ---- */

static const float v_f32[6] = {0.5f, -1.25f, 3.0f, 1e-7f, -0.0f, 65504.0f};
static const double v_f64[4] = {3.141592653589793, -2.5e300, 0.0, 1.0 / 3.0};
static const uint16_t v_bf16[6] = {0x3f80, 0xbf80, 0x7f80, 0x0001, 0x4049, 0xffff};
static const int8_t v_i8[5] = {-128, -1, 0, 1, 127};
static const uint8_t v_u8[3] = {0, 128, 255};
static const int32_t v_i32[4] = {INT32_MIN, -7, 7, INT32_MAX};
static const int64_t v_i64[1] = {-1234567890123456789};

/* The round-trip set: every kind of shape, and sizes that put most tensors off 8-byte offsets. */
static int round_trip_tensors(mc_st_tensor *t) {
    const mc_st_tensor set[] = {
        {"w.f32", MC_F32, 2, {2, 3}, v_f32, sizeof v_f32},
        {"b.f64", MC_F64, 1, {4}, v_f64, sizeof v_f64},
        {"e.bf16", MC_BF16, 3, {3, 1, 2}, v_bf16, sizeof v_bf16},
        {"q.i8", MC_I8, 1, {5}, v_i8, sizeof v_i8},
        {"m.u8", MC_U8, 1, {3}, v_u8, sizeof v_u8},
        {"idx.i32", MC_I32, 2, {2, 2}, v_i32, sizeof v_i32},
        {"step", MC_I64, 0, {0}, v_i64, sizeof v_i64},
        {"empty", MC_F32, 2, {0, 4}, NULL, 0},
    };
    memcpy(t, set, sizeof set);
    return (int)(sizeof set / sizeof set[0]);
}

static const mc_st_meta rt_meta[] = {{"arch", "{\"type\":\"mlp\"}"}, {"seed", "42"}};

static void test_round_trip(void **state) {
    (void)state;
    char path[512], path2[512];
    tmp_path(path, sizeof path, "round_trip.safetensors");
    tmp_path(path2, sizeof path2, "round_trip2.safetensors");
    mc_st_tensor t[16];
    int n = round_trip_tensors(t);
    mc_error err;
    assert_int_equal(mc_safetensors_save(path, t, n, rt_meta, 2, &err), MC_OK);

    /* layout: data buffer at a multiple of 64, tensors back to back */
    size_t size;
    unsigned char *raw = read_bytes(path, &size);
    uint64_t hlen = le64(raw);
    assert_int_equal((8 + hlen) % 64, 0);
    assert_int_equal(raw[8], '{');
    assert_int_equal(raw[8 + hlen - 1], ' ');
    size_t total = 0;
    for (int i = 0; i < n; i++) total += t[i].nbytes;
    assert_int_equal(size, 8 + hlen + total);
    assert_memory_equal(raw + size - 8, v_i64, 8);

    mc_safetensors *f = NULL;
    assert_int_equal(mc_safetensors_open(&f, path, &err), MC_OK);
    assert_int_equal(mc_safetensors_count(f), n);
    for (int i = 0; i < n; i++) {
        const mc_st_tensor *g = mc_safetensors_at(f, i);
        assert_non_null(g);
        assert_string_equal(g->name, t[i].name); /* saved in order, so at() keeps it */
        assert_ptr_equal(mc_safetensors_find(f, t[i].name), g);
        assert_int_equal(g->dtype, t[i].dtype);
        assert_int_equal(g->ndim, t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++) assert_int_equal(g->shape[d], t[i].shape[d]);
        assert_int_equal(g->nbytes, t[i].nbytes);
        assert_non_null(g->data);
        assert_int_equal((uintptr_t)g->data % 64, 0);
        if (t[i].nbytes) assert_memory_equal(g->data, t[i].data, t[i].nbytes);
    }
    const mc_st_tensor *w = mc_safetensors_find(f, "w.f32");
    assert_true(((const float *)w->data)[5] == 65504.0f);
    assert_true(signbit(((const float *)w->data)[4]));
    assert_int_equal(((const uint16_t *)mc_safetensors_find(f, "e.bf16")->data)[4], 0x4049);
    assert_int_equal(*(const int64_t *)mc_safetensors_find(f, "step")->data, -1234567890123456789);
    assert_int_equal(mc_safetensors_find(f, "empty")->shape[0], 0);
    assert_string_equal(mc_safetensors_meta(f, "arch"), "{\"type\":\"mlp\"}");
    assert_string_equal(mc_safetensors_meta(f, "seed"), "42");
    assert_null(mc_safetensors_meta(f, "seeds"));
    assert_null(mc_safetensors_find(f, "w"));
    assert_null(mc_safetensors_find(f, "__metadata__"));
    assert_null(mc_safetensors_at(f, -1));
    assert_null(mc_safetensors_at(f, n));

    /* saving what was loaded gives the same bytes */
    mc_st_tensor again[16];
    for (int i = 0; i < n; i++) again[i] = *mc_safetensors_at(f, i);
    assert_int_equal(mc_safetensors_save(path2, again, n, rt_meta, 2, &err), MC_OK);
    size_t size2;
    unsigned char *raw2 = read_bytes(path2, &size2);
    assert_int_equal(size2, size);
    assert_memory_equal(raw2, raw, size);
    mc_safetensors_close(f);
    free(raw);
    free(raw2);

    /* a save replaces an existing file; an empty file (no tensors, no metadata) is valid */
    assert_int_equal(mc_safetensors_save(path2, t + 4, 1, NULL, 0, &err), MC_OK);
    assert_int_equal(mc_safetensors_open(&f, path2, &err), MC_OK);
    assert_int_equal(mc_safetensors_count(f), 1);
    assert_memory_equal(mc_safetensors_at(f, 0)->data, v_u8, 3);
    assert_null(mc_safetensors_meta(f, "seed"));
    mc_safetensors_close(f);
    assert_int_equal(mc_safetensors_save(path2, NULL, 0, NULL, 0, &err), MC_OK);
    assert_int_equal(mc_safetensors_open(&f, path2, &err), MC_OK);
    assert_int_equal(mc_safetensors_count(f), 0);
    assert_null(mc_safetensors_at(f, 0));
    mc_safetensors_close(f);
}

/* A file laid out by another writer: keys out of order, data in another order than the keys,
 * odd offsets, metadata last; every tensor still comes back aligned and in offset order. */
static void test_foreign_layout(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "foreign.safetensors");
    const char *json = "{\"z\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                       "\"a\":{\"data_offsets\":[3,11],\"shape\":[2],\"dtype\":\"F32\"},"
                       "\"none\":{\"dtype\":\"I16\",\"shape\":[2,0],\"data_offsets\":[11,11]},"
                       "\"m\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[11,13]},"
                       "\"__metadata__\":{\"k\":\"v\"}}";
    const unsigned char data[13] = {1, 2, 3, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0x39, 0x30};
    write_st(path, json, data, sizeof data);

    mc_safetensors *f;
    mc_error err;
    assert_int_equal(mc_safetensors_open(&f, path, &err), MC_OK);
    assert_int_equal(mc_safetensors_count(f), 4);
    const char *order[] = {"z", "a", "none", "m"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(mc_safetensors_at(f, i)->name, order[i]);
        assert_int_equal((uintptr_t)mc_safetensors_at(f, i)->data % 64, 0);
    }
    const float *a = mc_safetensors_find(f, "a")->data;
    assert_true(a[0] == 1.0f && a[1] == -2.0f);
    assert_int_equal(*(const int16_t *)mc_safetensors_find(f, "m")->data, 12345);
    assert_memory_equal(mc_safetensors_find(f, "z")->data, data, 3);
    assert_int_equal(mc_safetensors_find(f, "none")->nbytes, 0);
    assert_string_equal(mc_safetensors_meta(f, "k"), "v");
    mc_safetensors_close(f);
}

/* ---- hostile files ---- */

static void expect_open(const char *path, mc_status code, const char *needle) {
    mc_safetensors *f = (mc_safetensors *)&f;
    mc_error err = {MC_OK, ""};
    mc_status st = mc_safetensors_open(&f, path, &err);
    if (st != code || (code != MC_OK && (!strstr(err.msg, path) || !strstr(err.msg, needle))))
        fail_msg("%s: status %d (expected %d), message \"%s\" (expected to hold \"%s\")", path, st, code, err.msg,
                 needle);
    if (code != MC_OK) {
        assert_null(f);
        assert_int_equal(err.code, code);
    }
    mc_safetensors_close(f);
}

static void test_hostile_prefix(void **state) {
    (void)state;
    char path[512];
    unsigned char b[64] = {0};

    write_bytes(tmp_path(path, sizeof path, "empty.safetensors"), b, 0);
    expect_open(path, MC_ERR_FORMAT, "file is 0 bytes");
    write_bytes(tmp_path(path, sizeof path, "seven.safetensors"), b, 7);
    expect_open(path, MC_ERR_FORMAT, "file is 7 bytes");
    memcpy(b + 8, "{}", 2);
    write_bytes(tmp_path(path, sizeof path, "hlen0.safetensors"), b, 10);
    expect_open(path, MC_ERR_FORMAT, "header length is 0");
    b[0] = 3;
    write_bytes(tmp_path(path, sizeof path, "hlen_past.safetensors"), b, 10);
    expect_open(path, MC_ERR_FORMAT, "header length 3 runs past the end of the 10-byte file");
    b[0] = 0;
    b[7] = 0x80;
    write_bytes(tmp_path(path, sizeof path, "hlen_2p63.safetensors"), b, 10);
    expect_open(path, MC_ERR_FORMAT,
                "hlen_2p63.safetensors: not a safetensors file (its first 8 bytes are not a plausible header length "
                "for a 10-byte file");
    b[7] = 0;
    uint32_t big = MC_ST_MAX_HEADER + 1;
    memcpy(b, &big, 4);
    write_bytes(tmp_path(path, sizeof path, "hlen_limit.safetensors"), b, 10);
    expect_open(path, MC_ERR_FORMAT,
                "not a safetensors file (its first 8 bytes are not a plausible header length for a 10-byte file; "
                "headers are at most 100000000 bytes)");

    expect_open(tmp_path(path, sizeof path, "no_such_file.safetensors"), MC_ERR_IO, "cannot open");
    tmp_path(path, sizeof path, "a_folder.safetensors");
    mkdir(path, 0755);
    expect_open(path, MC_ERR_IO, "not a regular file");
}

#define T(name, dtype, shape, b, e)                                                                                    \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" b "," e "]}"

static const struct {
    const char *file, *json;
    size_t data;
    mc_status code;
    const char *needle;
} hostile[] = {
    {"not_json", "this is not json", 0, MC_ERR_FORMAT, "not a JSON object"},
    {"bad_json", "{\"w\":{\"dtype\":\"F32\",", 0, MC_ERR_FORMAT, "not valid JSON"},
    {"array", "[1,2,3]", 0, MC_ERR_FORMAT, "not a JSON object"},
    {"leading_space", " {}", 0, MC_ERR_FORMAT, "not a JSON object"},
    {"bad_utf8", "{\"w\xff\":{}}", 0, MC_ERR_FORMAT, "not valid JSON"},
    {"nul_name", "{\"w\\u0000\":{}}", 0, MC_ERR_FORMAT, "not valid JSON"},
    {"duplicate", "{" T("a", "F32", "[1]", "0", "4") "," T("a", "F32", "[1]", "4", "8") "}", 8, MC_ERR_FORMAT,
     "duplicate"},
    {"f128", "{" T("w", "F128", "[1]", "0", "16") "}", 16, MC_ERR_UNSUPPORTED, "tensor 'w': unknown dtype 'F128'"},
    {"dtype_number", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MC_ERR_FORMAT,
     "tensor 'w': dtype is not a string"},
    {"negative_dim", "{" T("w", "F32", "[2,-1]", "0", "4") "}", 4, MC_ERR_FORMAT,
     "tensor 'w': shape dimension 1 is not a non-negative integer"},
    {"real_dim", "{" T("w", "F32", "[2.0]", "0", "8") "}", 8, MC_ERR_FORMAT, "shape dimension 0"},
    {"shape_object", "{" T("w", "F32", "{}", "0", "4") "}", 4, MC_ERR_FORMAT, "shape is not an array"},
    {"nine_dims", "{" T("w", "F32", "[1,1,1,1,1,1,1,1,1]", "0", "4") "}", 4, MC_ERR_FORMAT,
     "tensor 'w': shape has 9 dimensions, more than 8"},
    {"overflow", "{" T("w", "F32", "[4294967296,4294967296,2]", "0", "4") "}", 4, MC_ERR_FORMAT,
     "tensor 'w': shape [4294967296, 4294967296, 2] of F32 overflows"},
    {"overflow_size", "{" T("w", "F64", "[2305843009213693952]", "0", "8") "}", 8, MC_ERR_FORMAT, "overflows"},
    {"begin_after_end", "{" T("w", "F32", "[1]", "8", "4") "}", 8, MC_ERR_FORMAT,
     "tensor 'w': data_offsets [8, 4]: begin is after end"},
    {"end_past_buffer", "{" T("w", "F32", "[2]", "0", "8") "}", 4, MC_ERR_FORMAT,
     "tensor 'w': data_offsets [0, 8] end past the 4-byte data buffer"},
    {"negative_offset", "{" T("w", "F32", "[1]", "-4", "0") "}", 4, MC_ERR_FORMAT, "data_offsets is not an array"},
    {"three_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, MC_ERR_FORMAT,
     "data_offsets is not an array of two"},
    {"overlap", "{" T("a", "F32", "[2]", "0", "8") "," T("b", "F32", "[2]", "4", "12") "}", 12, MC_ERR_FORMAT,
     "tensors 'a' and 'b' overlap"},
    {"same_range", "{" T("b", "F32", "[1]", "0", "4") "," T("a", "F32", "[1]", "0", "4") "}", 4, MC_ERR_FORMAT,
     "tensors 'a' and 'b' overlap"},
    {"empty_inside", "{" T("a", "F32", "[2]", "0", "8") "," T("z", "F32", "[0]", "4", "4") "}", 8, MC_ERR_FORMAT,
     "tensors 'a' and 'z' overlap"},
    {"hole", "{" T("a", "F32", "[1]", "0", "4") "," T("b", "F32", "[1]", "8", "12") "}", 12, MC_ERR_FORMAT,
     "hole of 4 bytes in the data buffer before tensor 'b'"},
    {"hole_at_start", "{" T("a", "F32", "[1]", "4", "8") "}", 8, MC_ERR_FORMAT, "hole of 4 bytes"},
    {"trailing", "{" T("a", "F32", "[1]", "0", "4") "}", 9, MC_ERR_FORMAT, "5 bytes after the last tensor"},
    {"trailing_no_tensors", "{}", 3, MC_ERR_FORMAT, "3 bytes after the last tensor"},
    {"size_mismatch", "{" T("w1", "F32", "[4,5]", "0", "96") "}", 96, MC_ERR_FORMAT,
     "tensor 'w1': data_offsets [0, 96] hold 96 bytes but shape [4, 5] of F32 needs 80"},
    {"meta_number", "{\"__metadata__\":{\"arch\":\"x\",\"seed\":42}," T("a", "U8", "[1]", "0", "1") "}", 1,
     MC_ERR_FORMAT, "__metadata__ value 'seed' is not a string"},
    {"meta_array", "{\"__metadata__\":[\"x\"]}", 0, MC_ERR_FORMAT, "__metadata__ is not an object"},
    {"no_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, MC_ERR_FORMAT,
     "tensor 'w': missing \"data_offsets\""},
    {"no_dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MC_ERR_FORMAT, "missing \"dtype\""},
    {"extra_key", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, MC_ERR_FORMAT,
     "tensor 'w': unexpected key 'x'"},
    {"entry_string", "{\"w\":\"F32\"}", 0, MC_ERR_FORMAT, "tensor 'w': entry is not an object"},
    /* valid edge cases */
    {"ok_empty_between",
     "{" T("a", "U8", "[1]", "0", "1") "," T("z", "F32", "[3,0]", "1", "1") "," T("b", "U8", "[1]", "1", "2") "}", 2,
     MC_OK, ""},
    {"ok_two_empty", "{" T("a", "U8", "[0]", "0", "0") "," T("b", "I64", "[0,0]", "0", "0") "}", 0, MC_OK, ""},
    {"ok_nothing", "{}", 0, MC_OK, ""},
    {"ok_padded", "{\"__metadata__\":{}}        ", 0, MC_OK, ""},
};

/* Files of another kind given as a model: named as not safetensors, without a made-up header length. */
static void test_not_safetensors(void **state) {
    (void)state;
    char path[512];
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                        0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89};
    write_bytes(tmp_path(path, sizeof path, "image.png"), png, sizeof png);
    expect_open(path, MC_ERR_FORMAT,
                "image.png: not a safetensors file (its first 8 bytes are not a plausible header length for a 33-byte "
                "file");
    mc_safetensors *f = NULL;
    mc_error err;
    assert_int_equal(mc_safetensors_open(&f, path, &err), MC_ERR_FORMAT);
    assert_null(strstr(err.msg, "header length 7"));
    assert_null(strstr(err.msg, "exceeds"));
    static const char text[] = "step,loss\n1,0.5\n2,0.25\n";
    write_bytes(tmp_path(path, sizeof path, "log.csv"), text, sizeof text - 1);
    expect_open(path, MC_ERR_FORMAT, "log.csv: not a safetensors file (");
    /* a plausible length whose header is not JSON */
    write_st(tmp_path(path, sizeof path, "not_json.bin"), "PK\x03\x04 zip", NULL, 0);
    expect_open(path, MC_ERR_FORMAT,
                "not_json.bin: not a safetensors file: header is not a JSON object (it starts with byte 0x50, not '{')");
}

/* Opens path (a valid file) and expects mc_safetensors_check_finite to answer code with needle. */
static void expect_finite(const char *path, mc_status code, const char *needle) {
    mc_safetensors *f = NULL;
    mc_error err = {MC_OK, ""};
    assert_int_equal(mc_safetensors_open(&f, path, &err), MC_OK);
    mc_status st = mc_safetensors_check_finite(f, path, &err);
    if (st != code || (code != MC_OK && (!strstr(err.msg, path) || !strstr(err.msg, needle))))
        fail_msg("%s: status %d (expected %d), message \"%s\" (expected to hold \"%s\")", path, st, code, err.msg,
                 needle);
    mc_safetensors_close(f);
}

/* A NaN or an infinity in any floating-point tensor is named, with the file, the tensor and the
 * element; integer tensors are not looked at; the format itself still opens such files. */
static void test_non_finite(void **state) {
    (void)state;
    char path[512];
    const float f32[4] = {1.0f, -2.0f, NAN, 4.0f};
    {
        /* the I32 tensor holds 0x7fc00000, a NaN's bits, which means nothing for an integer */
        unsigned char data[24];
        const uint32_t nan_bits = 0x7fc00000u;
        memcpy(data, &nan_bits, 4);
        memcpy(data + 4, &nan_bits, 4);
        memcpy(data + 8, f32, sizeof f32);
        write_st(tmp_path(path, sizeof path, "nan_f32.safetensors"),
                 "{" T("ok", "I32", "[2]", "0", "8") "," T("layer1.weight", "F32", "[2,2]", "8", "24") "}", data,
                 sizeof data);
    }
    expect_finite(path, MC_ERR_FORMAT,
                  "nan_f32.safetensors: tensor 'layer1.weight': element 2 is NaN: every value of a model must be finite");

    const double f64[3] = {0.5, -INFINITY, 1.0};
    write_st(tmp_path(path, sizeof path, "inf_f64.safetensors"), "{" T("b", "F64", "[3]", "0", "24") "}", f64, sizeof f64);
    expect_finite(path, MC_ERR_FORMAT, "tensor 'b': element 1 is -inf");

    const uint16_t f16[2] = {0x3c00, 0x7c00}; /* 1.0, +inf */
    write_st(tmp_path(path, sizeof path, "inf_f16.safetensors"), "{" T("h", "F16", "[2]", "0", "4") "}", f16, sizeof f16);
    expect_finite(path, MC_ERR_FORMAT, "tensor 'h': element 1 is +inf");

    const uint16_t bf16[3] = {0x3f80, 0x0000, 0xffc1}; /* 1.0, 0.0, NaN */
    write_st(tmp_path(path, sizeof path, "nan_bf16.safetensors"), "{" T("g", "BF16", "[3]", "0", "6") "}", bf16, sizeof bf16);
    expect_finite(path, MC_ERR_FORMAT, "tensor 'g': element 2 is NaN");

    /* the largest finite values pass */
    const float big[2] = {3.4028235e38f, -3.4028235e38f};
    const uint16_t h_big[2] = {0x7bff, 0xfbff};
    {
        unsigned char data[12];
        memcpy(data, big, sizeof big);
        memcpy(data + 8, h_big, sizeof h_big);
        write_st(tmp_path(path, sizeof path, "finite.safetensors"),
                 "{" T("a", "F32", "[2]", "0", "8") "," T("h", "F16", "[2]", "8", "12") "}", data, sizeof data);
    }
    expect_finite(path, MC_OK, "");
}

static void test_hostile_header(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char name[128], path[512];
        snprintf(name, sizeof name, "%s.safetensors", hostile[i].file);
        write_st(tmp_path(path, sizeof path, name), hostile[i].json, NULL, hostile[i].data);
        expect_open(path, hostile[i].code, hostile[i].needle);
    }
}

/* ---- corrupted files ---- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* On success every tensor's bytes must be exactly its slice of the file's data buffer. */
static void check_inside(const mc_safetensors *f, const unsigned char *b, size_t len) {
    uint64_t hlen = le64(b);
    assert_true(8 + hlen <= len);
    size_t pos = 8 + (size_t)hlen;
    for (int i = 0; i < mc_safetensors_count(f); i++) {
        const mc_st_tensor *t = mc_safetensors_at(f, i);
        assert_int_equal(t->nbytes, numel(t) * mc_dtype_size(t->dtype));
        assert_true(t->nbytes <= len - pos);
        if (t->nbytes) assert_memory_equal(t->data, b + pos, t->nbytes);
        pos += t->nbytes;
    }
    assert_int_equal(pos, len);
}

static void test_corrupted(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "corrupted.safetensors");
    mc_st_tensor t[16];
    int n = round_trip_tensors(t);
    mc_error err;
    assert_int_equal(mc_safetensors_save(path, t, n, rt_meta, 2, &err), MC_OK);
    size_t len;
    unsigned char *base = read_bytes(path, &len);
    size_t hend = 8 + (size_t)le64(base);
    unsigned char *b = malloc(len);
    assert_non_null(b);
    size_t digits[1024], n_digits = 0;
    for (size_t i = 8; i < hend && n_digits < 1024; i++)
        if (base[i] >= '0' && base[i] <= '9') digits[n_digits++] = i;
    assert_true(n_digits > 20);
    static const char tokens[] = "0123456789-+.eE[]{},:\" \\";
    uint64_t s = 0x5eed5eed1234ull;
    int ok = 0, rejected = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(b, base, len);
        size_t blen = len;
        int flips = 1 + (int)(rng_next(&s) % 4);
        switch (rng_next(&s) % 4) {
        case 0: blen = (size_t)(rng_next(&s) % len); break;
        case 1:
            for (int k = 0; k < flips; k++) b[rng_next(&s) % len] ^= (unsigned char)(1 + rng_next(&s) % 255);
            break;
        case 2: /* keeps the JSON valid: shapes and offsets change */
            for (int k = 0; k < flips; k++)
                b[digits[rng_next(&s) % n_digits]] = (unsigned char)('0' + rng_next(&s) % 10);
            break;
        default:
            for (int k = 0; k < flips; k++)
                b[8 + rng_next(&s) % (hend - 8)] = (unsigned char)tokens[rng_next(&s) % (sizeof tokens - 1)];
            break;
        }
        write_bytes(path, b, blen);
        mc_safetensors *f = NULL;
        err.msg[0] = '\0';
        mc_status st = mc_safetensors_open(&f, path, &err);
        if (st == MC_OK) {
            check_inside(f, b, blen);
            mc_safetensors_close(f);
            ok++;
        } else {
            assert_null(f);
            assert_true(st == MC_ERR_FORMAT || st == MC_ERR_UNSUPPORTED);
            assert_non_null(strstr(err.msg, path));
            rejected++;
        }
    }
    print_message("corrupted files: %d opened, %d rejected\n", ok, rejected);
    /* some mutations keep the file valid (a digit in metadata, a flipped data byte), most do not */
    assert_true(ok > 50);
    assert_true(rejected > 1000);
    free(b);
    free(base);
}

/* ---- failing saves ---- */

static void expect_save(const char *path, const mc_st_tensor *t, int n, const mc_st_meta *m, int n_meta, mc_status code,
                        const char *needle) {
    mc_error err = {MC_OK, ""};
    mc_status st = mc_safetensors_save(path, t, n, m, n_meta, &err);
    if (st != code || !strstr(err.msg, needle))
        fail_msg("save: status %d (expected %d), message \"%s\" (expected to hold \"%s\")", st, code, err.msg, needle);
}

static void test_save_errors(void **state) {
    (void)state;
    char path[512], tmp[600], folder[512];
    tmp_path(path, sizeof path, "keep.safetensors");
    /* the temporary file beside it (outfile.h) */
    const char *slash = strrchr(path, '/');
    snprintf(tmp, sizeof tmp, "%.*s.tmp-%ld-%s", (int)(slash - path + 1), path, (long)getpid(), slash + 1);
    mc_st_tensor t[16];
    int n = round_trip_tensors(t);
    mc_error err;
    assert_int_equal(mc_safetensors_save(path, t, n, rt_meta, 2, &err), MC_OK);
    size_t len;
    unsigned char *before = read_bytes(path, &len);

    /* a missing folder: nothing created */
    tmp_path(folder, sizeof folder, "no_such_folder");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/m.safetensors", folder);
    expect_save(missing, t, n, rt_meta, 2, MC_ERR_IO, missing);
    assert_false(file_exists(folder));

    /* invalid arguments, checked before any file is touched */
    mc_st_tensor bad[16];
    memcpy(bad, t, sizeof t);
    bad[3].name = "w.f32";
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "tensor 'w.f32': name appears twice");
    memcpy(bad, t, sizeof t);
    bad[2].name = "__metadata__";
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "reserved name '__metadata__'");
    memcpy(bad, t, sizeof t);
    bad[1].nbytes = 24;
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "tensor 'b.f64': nbytes 24 does not match shape [4] of F64");
    memcpy(bad, t, sizeof t);
    bad[0].shape[1] = 4;
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "nbytes 24 does not match shape [2, 4] of F32");
    memcpy(bad, t, sizeof t);
    bad[0].dtype = MC_DTYPE_COUNT;
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "invalid dtype");
    memcpy(bad, t, sizeof t);
    bad[0].ndim = MC_ST_MAX_DIMS + 1;
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "out of range");
    memcpy(bad, t, sizeof t);
    bad[0].shape[0] = -2;
    bad[0].shape[1] = -3;
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "out of range");
    memcpy(bad, t, sizeof t);
    bad[0].data = NULL;
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "data is NULL");
    memcpy(bad, t, sizeof t);
    bad[0].name = NULL;
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "tensor 0 has no name");
    memcpy(bad, t, sizeof t);
    bad[0].name = "w\xff";
    expect_save(path, bad, n, NULL, 0, MC_ERR_ARG, "not valid UTF-8");
    const mc_st_meta dup_meta[] = {{"seed", "1"}, {"seed", "2"}};
    expect_save(path, t, n, dup_meta, 2, MC_ERR_ARG, "metadata key 'seed' appears twice");
    const mc_st_meta null_meta[] = {{"seed", NULL}};
    expect_save(path, t, n, null_meta, 1, MC_ERR_ARG, "NULL key or value");
    expect_save(NULL, t, n, NULL, 0, MC_ERR_ARG, "invalid arguments");
    expect_save(path, t, -1, NULL, 0, MC_ERR_ARG, "invalid arguments");
    expect_save(path, NULL, 1, NULL, 0, MC_ERR_ARG, "invalid arguments");

    /* the temporary file cannot be created: the target stays as it was */
    assert_int_equal(mkdir(tmp, 0755), 0);
    expect_save(path, t + 4, 1, NULL, 0, MC_ERR_IO, "cannot write");
    assert_int_equal(rmdir(tmp), 0);

    /* the disk fills up mid-write (a file size limit): the temporary file is removed */
    static unsigned char blob[1 << 16];
    mc_st_tensor huge = {"huge", MC_U8, 1, {sizeof blob}, blob, sizeof blob};
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    mc_status st = mc_safetensors_save(path, &huge, 1, NULL, 0, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(st, MC_ERR_IO);
    assert_non_null(strstr(err.msg, "File too large"));

    assert_false(file_exists(tmp));
    size_t len2;
    unsigned char *after = read_bytes(path, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(after, before, len);
    mc_safetensors *f;
    assert_int_equal(mc_safetensors_open(&f, path, &err), MC_OK);
    assert_int_equal(mc_safetensors_count(f), n);
    mc_safetensors_close(f);
    free(before);
    free(after);
}

static void test_null_handles(void **state) {
    (void)state;
    mc_safetensors_close(NULL);
    assert_int_equal(mc_safetensors_count(NULL), 0);
    assert_null(mc_safetensors_at(NULL, 0));
    assert_null(mc_safetensors_find(NULL, "w"));
    assert_null(mc_safetensors_meta(NULL, "arch"));
    mc_error err;
    assert_int_equal(mc_safetensors_open(NULL, "x", &err), MC_ERR_ARG);
    mc_safetensors *f = (mc_safetensors *)&f;
    assert_int_equal(mc_safetensors_open(&f, NULL, &err), MC_ERR_ARG);
    assert_null(f);
    assert_int_equal(mc_safetensors_open(&f, NULL, NULL), MC_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_foreign_layout),
        cmocka_unit_test(test_hostile_prefix), cmocka_unit_test(test_hostile_header),
        cmocka_unit_test(test_corrupted),      cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_null_handles),   cmocka_unit_test(test_not_safetensors),
        cmocka_unit_test(test_non_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
