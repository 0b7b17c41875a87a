/* dtype.c: element sizes and safetensors names of mc_dtype. */
#include "moecore/dtype.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[MC_DTYPE_COUNT] = {
    [MC_F32] = {"F32", 4}, [MC_F64] = {"F64", 8}, [MC_F16] = {"F16", 2},  [MC_BF16] = {"BF16", 2},
    [MC_I8] = {"I8", 1},   [MC_U8] = {"U8", 1},   [MC_I16] = {"I16", 2},  [MC_I32] = {"I32", 4},
    [MC_I64] = {"I64", 8}, [MC_BOOL] = {"BOOL", 1},
};

size_t mc_dtype_size(mc_dtype t) {
    return (unsigned)t < MC_DTYPE_COUNT ? dtype_info[t].size : 0;
}

const char *mc_dtype_name(mc_dtype t) {
    return (unsigned)t < MC_DTYPE_COUNT ? dtype_info[t].name : "?";
}

int mc_dtype_parse(const char *name, mc_dtype *out) {
    for (int t = 0; t < MC_DTYPE_COUNT; t++) {
        if (strcmp(name, dtype_info[t].name) == 0) {
            *out = (mc_dtype)t;
            return 0;
        }
    }
    return -1;
}
