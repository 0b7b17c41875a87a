/* st_write_sample.c: the C half of the safetensors interoperability check with
 * tests/core/read_safetensors.py, which holds the same sample definition.
 *
 *   st_write_sample write FILE   saves the sample with mc_safetensors_save
 *   st_write_sample check FILE   opens FILE (written by the Python script) and checks every value
 *
 * Sample: one tensor per dtype (table below); element i of tensor k has v = k*1000 + i, stored as
 * F32/F64 v, F16 v % 2048, BF16 the top 16 bits of float32 v, I8/U8 v wrapped, I16 v,
 * I32 v*100003 - 10^9, I64 -(v * 2^32 + 7), BOOL (v % 3 == 0). Exits 0 when all is well, 1 with a
 * message on stderr otherwise. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/model_io.h"

static const struct {
    const char *name;
    mc_dtype dtype;
    int ndim;
    int64_t shape[3];
} sample[] = {
    {"f32", MC_F32, 2, {2, 3}},      {"f64", MC_F64, 1, {4}},      {"f16", MC_F16, 2, {2, 2}},
    {"bf16", MC_BF16, 3, {3, 1, 2}}, {"i8", MC_I8, 1, {5}},        {"u8", MC_U8, 1, {7}},
    {"i16", MC_I16, 1, {3}},         {"i32", MC_I32, 2, {2, 2}},   {"i64", MC_I64, 0, {0}},
    {"bool", MC_BOOL, 1, {6}},       {"empty", MC_F32, 2, {0, 4}},
};
#define N_SAMPLE ((int)(sizeof sample / sizeof sample[0]))

static const mc_st_meta sample_meta[] = {
    {"arch", "{\"type\":\"mlp\"}"},
    {"seed", "42"},
    {"note", "d\xc3\xa9j\xc3\xa0 vu \xe2\x9c\x93"},
};
#define N_META ((int)(sizeof sample_meta / sizeof sample_meta[0]))

/* Half-precision bits of an integer 0 <= x < 2048 (exact). */
static uint16_t half_bits(unsigned x) {
    if (x == 0) return 0;
    int e = 31 - __builtin_clz(x);
    return (uint16_t)((unsigned)(e + 15) << 10 | ((x << (10 - e)) & 0x3ffu));
}

static size_t numel(int k) {
    size_t n = 1;
    for (int d = 0; d < sample[k].ndim; d++) n *= (size_t)sample[k].shape[d];
    return n;
}

/* Fills out (numel(k) * dtype size bytes) with the sample values of tensor k. */
static void fill(int k, void *out) {
    for (size_t i = 0; i < numel(k); i++) {
        int64_t v = (int64_t)k * 1000 + (int64_t)i;
        switch (sample[k].dtype) {
        case MC_F32: ((float *)out)[i] = (float)v; break;
        case MC_F64: ((double *)out)[i] = (double)v; break;
        case MC_F16: ((uint16_t *)out)[i] = half_bits((unsigned)(v % 2048)); break;
        case MC_BF16: {
            float f = (float)v;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            ((uint16_t *)out)[i] = (uint16_t)(bits >> 16);
            break;
        }
        case MC_I8: ((int8_t *)out)[i] = (int8_t)(uint8_t)v; break;
        case MC_U8: ((uint8_t *)out)[i] = (uint8_t)v; break;
        case MC_I16: ((int16_t *)out)[i] = (int16_t)v; break;
        case MC_I32: ((int32_t *)out)[i] = (int32_t)(v * 100003 - 1000000000); break;
        case MC_I64: ((int64_t *)out)[i] = -(v * 4294967296 + 7); break;
        case MC_BOOL: ((uint8_t *)out)[i] = v % 3 == 0; break;
        default: break;
        }
    }
}

static int write_sample(const char *path) {
    mc_st_tensor t[N_SAMPLE];
    void *buf[N_SAMPLE];
    for (int k = 0; k < N_SAMPLE; k++) {
        memset(&t[k], 0, sizeof t[k]);
        t[k].name = sample[k].name;
        t[k].dtype = sample[k].dtype;
        t[k].ndim = sample[k].ndim;
        memcpy(t[k].shape, sample[k].shape, sizeof sample[k].shape);
        t[k].nbytes = numel(k) * mc_dtype_size(sample[k].dtype);
        buf[k] = calloc(1, t[k].nbytes + 1);
        if (!buf[k]) return 1;
        fill(k, buf[k]);
        t[k].data = buf[k];
    }
    mc_error err;
    mc_status st = mc_safetensors_save(path, t, N_SAMPLE, sample_meta, N_META, &err);
    for (int k = 0; k < N_SAMPLE; k++) free(buf[k]);
    if (st != MC_OK) {
        fprintf(stderr, "st_write_sample: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int check_sample(const char *path) {
    mc_error err;
    mc_safetensors *f;
    if (mc_safetensors_open(&f, path, &err) != MC_OK) {
        fprintf(stderr, "st_write_sample: %s\n", err.msg);
        return 1;
    }
    int bad = 0;
    if (mc_safetensors_count(f) != N_SAMPLE) {
        fprintf(stderr, "%s: %d tensors, expected %d\n", path, mc_safetensors_count(f), N_SAMPLE);
        bad = 1;
    }
    for (int k = 0; k < N_SAMPLE; k++) {
        const mc_st_tensor *t = mc_safetensors_find(f, sample[k].name);
        size_t nbytes = numel(k) * mc_dtype_size(sample[k].dtype);
        if (!t || t->dtype != sample[k].dtype || t->ndim != sample[k].ndim || t->nbytes != nbytes ||
            memcmp(t->shape, sample[k].shape, (size_t)t->ndim * sizeof t->shape[0]) != 0) {
            fprintf(stderr, "%s: tensor '%s' missing or of another dtype or shape\n", path, sample[k].name);
            bad = 1;
            continue;
        }
        if ((uintptr_t)t->data % 64 != 0) {
            fprintf(stderr, "%s: tensor '%s' data is not 64-byte aligned\n", path, sample[k].name);
            bad = 1;
        }
        unsigned char *want = calloc(1, nbytes + 1);
        if (!want) return 1;
        fill(k, want);
        for (size_t b = 0; b < nbytes; b++) {
            if (((const unsigned char *)t->data)[b] != want[b]) {
                fprintf(stderr, "%s: tensor '%s' byte %zu is %u, expected %u\n", path, sample[k].name, b,
                        ((const unsigned char *)t->data)[b], want[b]);
                bad = 1;
                break;
            }
        }
        free(want);
    }
    for (int m = 0; m < N_META; m++) {
        const char *v = mc_safetensors_meta(f, sample_meta[m].key);
        if (!v || strcmp(v, sample_meta[m].value) != 0) {
            fprintf(stderr, "%s: metadata '%s' is %s\n", path, sample_meta[m].key, v ? v : "missing");
            bad = 1;
        }
    }
    mc_safetensors_close(f);
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "write") == 0) return write_sample(argv[2]);
    if (argc == 3 && strcmp(argv[1], "check") == 0) return check_sample(argv[2]);
    fprintf(stderr, "usage: st_write_sample write|check FILE\n");
    return 2;
}
