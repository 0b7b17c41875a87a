/* cuda.h: the CUDA backend's context and device memory. A context holds one device, one stream,
 * the cuBLAS and cuDNN handles, a growing scratch workspace, the cache of convolution algorithms
 * chosen per shape, and the last error. Every kernel of nn_cuda.h and moe_cuda.h takes a context
 * first and runs on its stream, in order.
 *
 * Declared in every build: when the library was built without the CUDA backend (MC_HAVE_CUDA 0),
 * every function returns MC_ERR_DEVICE ("this build has no CUDA backend"). Every CUDA, cuBLAS and
 * cuDNN failure, out-of-memory included, becomes a status with a message naming the call and the
 * file:line where it failed, kept on the context (mc_cuda_error); nothing aborts.
 *
 * Device arenas: mc_arena_create(MC_DEVICE_CUDA, block_bytes) gives an arena whose blocks come from
 * cudaMalloc on the current device (zeroed with cudaMemset); its pointers are device pointers. */
#ifndef MOECORE_CUDA_H
#define MOECORE_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_cuda_ctx mc_cuda_ctx;

/* How GEMMs and convolutions multiply: exact float32, TF32 tensor cores, or BF16 inputs with
 * float32 accumulation (operands rounded to bfloat16 inside the library; the arrays, and so the
 * master weights, stay float32). Elementwise kernels, reductions and the router always run in
 * float32/double. */
typedef enum mc_cuda_math { MC_CUDA_MATH_FP32 = 0, MC_CUDA_MATH_TF32, MC_CUDA_MATH_BF16 } mc_cuda_math;

/* A context on CUDA device `device` with its own stream and handles, math FP32. Owned by the
 * caller; err receives the reason when it fails. */
mc_status mc_cuda_ctx_create(mc_cuda_ctx **out, int device, mc_error *err);
void mc_cuda_ctx_destroy(mc_cuda_ctx *c); /* accepts NULL */

/* The last error recorded on c (code MC_OK and an empty message when none). */
const mc_error *mc_cuda_error(const mc_cuda_ctx *c);

mc_status mc_cuda_set_math(mc_cuda_ctx *c, mc_cuda_math math);
mc_cuda_math mc_cuda_get_math(const mc_cuda_ctx *c);

/* *out = bytes of device memory (cudaMalloc, uninitialised); MC_ERR_NOMEM with a message when the
 * device has not that much free. Free with mc_cuda_free. */
mc_status mc_cuda_malloc(mc_cuda_ctx *c, void **out, size_t bytes);
void mc_cuda_free(mc_cuda_ctx *c, void *p); /* accepts NULL */

/* Fills bytes of device memory with the byte value v, on the context's stream. */
mc_status mc_cuda_memset(mc_cuda_ctx *c, void *p, int v, size_t bytes);

/* Copies between host and device memory; both wait for the copy to finish (host memory may be
 * reused at once), after every kernel queued before them. */
mc_status mc_cuda_to_device(mc_cuda_ctx *c, void *dst, const void *src, size_t bytes);
mc_status mc_cuda_to_host(mc_cuda_ctx *c, void *dst, const void *src, size_t bytes);
/* Device to device, queued on the stream. */
mc_status mc_cuda_copy(mc_cuda_ctx *c, void *dst, const void *src, size_t bytes);

/* Waits for everything queued on the context's stream; reports an error a kernel raised. */
mc_status mc_cuda_sync(mc_cuda_ctx *c);

#ifdef __cplusplus
}
#endif
#endif
