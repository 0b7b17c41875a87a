/* tensor.h: tensors (dtype, device, shape, strides) and the arenas that own their memory.
 *
 * An mc_tensor is a view: it never owns its data. Data lives in an mc_arena owned by a model
 * (parameters, gradients, optimiser state) or by a workspace (activations); destroying the arena
 * frees every tensor in it at once. float32 is the working type; the dtype field leaves room for
 * bf16 and int8. */
#ifndef MOECORE_TENSOR_H
#define MOECORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "moecore/device.h"
#include "moecore/dtype.h"
#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MC_MAX_DIMS 8
#define MC_ALIGN 64 /* bytes: every arena allocation starts on a cache line (and an AVX-512 vector) */

typedef struct mc_tensor {
    mc_dtype dtype;
    mc_device_kind device;           /* MC_DEVICE_CPU or MC_DEVICE_CUDA */
    int ndim;
    int64_t shape[MC_MAX_DIMS];
    int64_t stride[MC_MAX_DIMS];     /* in elements */
    void *data;
} mc_tensor;

/* A contiguous (row-major) CPU view of data. ndim must be 0..MC_MAX_DIMS. */
mc_tensor mc_tensor_view(void *data, mc_dtype dtype, int ndim, const int64_t *shape);

int64_t mc_tensor_numel(const mc_tensor *t);
size_t mc_tensor_nbytes(const mc_tensor *t);
int mc_tensor_is_contiguous(const mc_tensor *t);

/* 1 when a and b have the same ndim and shape. */
int mc_tensor_same_shape(const mc_tensor *a, const mc_tensor *b);

/* Writes "[2, 3, 4]" into buf, for messages. */
void mc_tensor_shape_str(const mc_tensor *t, char *buf, size_t size);

typedef struct mc_arena mc_arena;

/* An arena on device (CPU here; CUDA arenas come with the CUDA backend) that grows in blocks of at
 * least block_bytes; allocations never move. Returns NULL when out of memory. Owned by the caller. */
mc_arena *mc_arena_create(mc_device_kind device, size_t block_bytes);

/* bytes of zeroed memory aligned to MC_ALIGN, owned by a; NULL when out of memory. */
void *mc_arena_alloc(mc_arena *a, size_t bytes);

/* A zeroed contiguous tensor of the given shape in a. */
mc_status mc_arena_tensor(mc_arena *a, mc_tensor *out, mc_dtype dtype, int ndim, const int64_t *shape);

/* Bytes handed out since creation or the last reset. */
size_t mc_arena_used(const mc_arena *a);

/* Forgets every allocation but keeps the memory for reuse (tensors from before become invalid). */
void mc_arena_reset(mc_arena *a);

/* Frees the arena and everything in it. Accepts NULL. */
void mc_arena_destroy(mc_arena *a);

#ifdef __cplusplus
}
#endif
#endif
