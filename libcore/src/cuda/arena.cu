/* cuda/arena.cu: the blocks of CUDA arenas (tensor.c): plain cudaMalloc on the current device,
 * zeroed with cudaMemset, which completes before any later work on the device's streams. Only the
 * runtime is used here, so programs whose arenas are all on the CPU link none of cuBLAS or cuDNN. */
#include <cuda_runtime.h>
#include <stddef.h>

/* NULL when out of memory. */
extern "C" void *mc_cuda_block_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return p;
}

extern "C" int mc_cuda_block_zero(void *p, size_t bytes) { return cudaMemset(p, 0, bytes) == cudaSuccess ? 0 : -1; }

extern "C" void mc_cuda_block_free(void *p) { cudaFree(p); }
