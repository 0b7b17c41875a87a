/* cuda/error.cu: the one place where CUDA runtime, cuBLAS and cuDNN failures become an mc_status
 * and a message "call at file:line: library message", recorded on the context. Allocation
 * failures map to MC_ERR_NOMEM, everything else to MC_ERR_DEVICE. */
#include <string.h>

#include "context.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static mc_status record(mc_cuda_ctx *c, mc_status code, const char *call, const char *file, int line,
                        const char *msg) {
    mc_error scratch;
    return mc_error_set(c ? &c->err : &scratch, code, "%s at %s:%d: %s", call, base_name(file), line, msg);
}

mc_status mc_cuda_check(mc_cuda_ctx *c, cudaError_t e, const char *call, const char *file, int line) {
    if (e == cudaSuccess) return MC_OK;
    cudaGetLastError(); /* clear a non-sticky error so that later calls report their own */
    return record(c, e == cudaErrorMemoryAllocation ? MC_ERR_NOMEM : MC_ERR_DEVICE, call, file, line,
                  cudaGetErrorString(e));
}

mc_status mc_cuda_check(mc_cuda_ctx *c, cublasStatus_t e, const char *call, const char *file, int line) {
    if (e == CUBLAS_STATUS_SUCCESS) return MC_OK;
    return record(c, e == CUBLAS_STATUS_ALLOC_FAILED ? MC_ERR_NOMEM : MC_ERR_DEVICE, call, file, line,
                  cublasGetStatusString(e));
}

mc_status mc_cuda_check(mc_cuda_ctx *c, cudnnStatus_t e, const char *call, const char *file, int line) {
    if (e == CUDNN_STATUS_SUCCESS) return MC_OK;
    int nomem = e == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED || e == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
    return record(c, nomem ? MC_ERR_NOMEM : MC_ERR_DEVICE, call, file, line, cudnnGetErrorString(e));
}

mc_status mc_cuda_arg_error(mc_cuda_ctx *c, const char *func, const char *what) {
    mc_error scratch;
    return mc_error_set(c ? &c->err : &scratch, MC_ERR_ARG, "%s: %s", func, what);
}
