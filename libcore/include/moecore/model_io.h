/* model_io.h: model files in the safetensors format.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON, then the data buffer. The JSON
 * maps each tensor name to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets
 * relative to the data buffer) and may hold "__metadata__", an object of string values; moesuite
 * keeps the architecture and the training provenance there as JSON text, so a model file
 * describes itself. Files written here open with PyTorch's `safetensors` package.
 *
 * A model file is untrusted input: loading checks the header length, the JSON, every dtype, shape,
 * offset and size against the file, overlaps and holes in the data buffer, before any use. */
#ifndef MOECORE_MODEL_IO_H
#define MOECORE_MODEL_IO_H

#include <stddef.h>
#include <stdint.h>

#include "moecore/dtype.h"
#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MC_ST_MAX_DIMS 8
/* Largest JSON header accepted, as in the reference implementation (100 MB). */
#define MC_ST_MAX_HEADER (100u * 1000u * 1000u)

/* One tensor: a view of its bytes (row-major, little-endian). */
typedef struct mc_st_tensor {
    const char *name;
    mc_dtype dtype;
    int ndim;                        /* 0 (scalar) .. MC_ST_MAX_DIMS */
    int64_t shape[MC_ST_MAX_DIMS];
    const void *data;                /* nbytes bytes; on load, 64-byte aligned and owned by the file */
    size_t nbytes;                   /* must equal product(shape) * mc_dtype_size(dtype) */
} mc_st_tensor;

/* One __metadata__ entry. */
typedef struct mc_st_meta {
    const char *key;
    const char *value;
} mc_st_meta;

/* Writes n tensors and n_meta metadata entries to path, atomically (a temporary file in the same
 * folder, fsync, rename), so an interrupted save never leaves a half-written model. Names must be
 * unique and must not be "__metadata__". Tensors are stored in the order given. */
mc_status mc_safetensors_save(const char *path, const mc_st_tensor *tensors, int n,
                              const mc_st_meta *meta, int n_meta, mc_error *err);

typedef struct mc_safetensors mc_safetensors;

/* Opens and fully validates path. On success *out owns the file's data (caller frees with
 * mc_safetensors_close); on failure *out is NULL and err names the file and the problem. */
mc_status mc_safetensors_open(mc_safetensors **out, const char *path, mc_error *err);

/* Number of tensors, and the i-th in file order of its data (0 <= i < count). */
int mc_safetensors_count(const mc_safetensors *f);
const mc_st_tensor *mc_safetensors_at(const mc_safetensors *f, int i);

/* The tensor called name, or NULL. The pointer lives as long as f. */
const mc_st_tensor *mc_safetensors_find(const mc_safetensors *f, const char *name);

/* The __metadata__ value for key, or NULL. The string lives as long as f. */
const char *mc_safetensors_meta(const mc_safetensors *f, const char *key);

/* Checks that every value of every floating-point tensor (F32, F64, F16, BF16) of f is finite, as
 * the values of a model must be; on the first NaN or infinity returns MC_ERR_FORMAT and err says
 * "<path>: tensor '<name>': element <i> is NaN|+inf|-inf". The file format itself allows any value:
 * mc_safetensors_open does not look at them, mc_model_load (model.h) calls this. */
mc_status mc_safetensors_check_finite(const mc_safetensors *f, const char *path, mc_error *err);

/* Frees f. Accepts NULL. */
void mc_safetensors_close(mc_safetensors *f);

#ifdef __cplusplus
}
#endif
#endif
