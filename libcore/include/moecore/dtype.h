/* dtype.h: element types of tensors and model files, with their sizes and safetensors names. */
#ifndef MOECORE_DTYPE_H
#define MOECORE_DTYPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_dtype {
    MC_F32 = 0,
    MC_F64,
    MC_F16,
    MC_BF16,
    MC_I8,
    MC_U8,
    MC_I16,
    MC_I32,
    MC_I64,
    MC_BOOL,
    MC_DTYPE_COUNT
} mc_dtype;

/* Bytes per element; 0 for a value outside the enum. */
size_t mc_dtype_size(mc_dtype t);

/* The safetensors spelling ("F32", "BF16", "I8", ...); "?" for a value outside the enum. */
const char *mc_dtype_name(mc_dtype t);

/* Parses a safetensors dtype name. Returns 0 and sets *out, or -1 for an unknown name. */
int mc_dtype_parse(const char *name, mc_dtype *out);

#ifdef __cplusplus
}
#endif
#endif
