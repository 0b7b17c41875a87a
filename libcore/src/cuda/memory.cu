/* cuda/memory.cu: device memory of a context: allocation, fill, copies between host and device.
 * Every failure is a status with a message. */
#include "context.h"

extern "C" mc_status mc_cuda_malloc(mc_cuda_ctx *c, void **out, size_t bytes) {
    if (!c || !out) return MC_ERR_ARG;
    *out = NULL;
    MC_CU(c, cudaMalloc(out, bytes ? bytes : 1));
    return MC_OK;
}

extern "C" void mc_cuda_free(mc_cuda_ctx *c, void *p) {
    if (!p) return;
    if (c) cudaStreamSynchronize(c->stream);
    cudaFree(p);
}

extern "C" mc_status mc_cuda_memset(mc_cuda_ctx *c, void *p, int v, size_t bytes) {
    if (!c || (!p && bytes)) return MC_ERR_ARG;
    if (bytes) MC_CU(c, cudaMemsetAsync(p, v, bytes, c->stream));
    return MC_OK;
}

extern "C" mc_status mc_cuda_to_device(mc_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
    if (!c || ((!dst || !src) && bytes)) return MC_ERR_ARG;
    if (!bytes) return MC_OK;
    MC_CU(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
    MC_CU(c, cudaStreamSynchronize(c->stream));
    return MC_OK;
}

extern "C" mc_status mc_cuda_to_host(mc_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
    if (!c || ((!dst || !src) && bytes)) return MC_ERR_ARG;
    if (!bytes) return MC_OK;
    MC_CU(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    MC_CU(c, cudaStreamSynchronize(c->stream));
    return MC_OK;
}

extern "C" mc_status mc_cuda_copy(mc_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
    if (!c || ((!dst || !src) && bytes)) return MC_ERR_ARG;
    if (bytes) MC_CU(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    return MC_OK;
}

extern "C" mc_status mc_cuda_sync(mc_cuda_ctx *c) {
    if (!c) return MC_ERR_ARG;
    MC_CU(c, cudaStreamSynchronize(c->stream));
    return MC_OK;
}
