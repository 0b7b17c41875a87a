/* cuda/reduce.cu: deterministic sums on the device: a fixed grid of blocks sums strided slices
 * in double with a tree in shared memory, and one block sums the partial results, so a sum of the
 * same n values is the same on every run. */
#include "context.h"

__global__ void sum_partials_kernel(double *partials, const double *v, int64_t n) {
    double acc = 0.0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        acc += v[i];
    double total = mc_block_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

/* first pass of the sum of squares of floats */
__global__ void sum_squares_partials_kernel(double *partials, const float *v, int64_t n) {
    double acc = 0.0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        acc += (double)v[i] * v[i];
    double total = mc_block_sum(acc);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

static unsigned first_pass_blocks(int64_t n) {
    int64_t want = (n + MC_CUDA_THREADS - 1) / MC_CUDA_THREADS;
    return (unsigned)(want > MC_CUDA_PARTIALS ? MC_CUDA_PARTIALS : want);
}

/* Sums the first pass's partials with one block and copies the total to the host. */
static mc_status finish(mc_cuda_ctx *c, unsigned blocks, double *host_sum) {
    /* in place: the block reads every partial before thread 0 writes partials[0] */
    sum_partials_kernel<<<1, MC_CUDA_THREADS, 0, c->stream>>>(c->partials, c->partials, blocks);
    MC_CU_LAUNCHED(c, sum_partials_kernel);
    MC_CU(c, cudaMemcpyAsync(host_sum, c->partials, sizeof(double), cudaMemcpyDeviceToHost, c->stream));
    MC_CU(c, cudaStreamSynchronize(c->stream));
    return MC_OK;
}

mc_status mc_cuda_sum_squares(mc_cuda_ctx *c, const float *v, int64_t n, double *host_sum) {
    *host_sum = 0.0;
    if (n <= 0) return MC_OK;
    unsigned blocks = first_pass_blocks(n);
    sum_squares_partials_kernel<<<blocks, MC_CUDA_THREADS, 0, c->stream>>>(c->partials, v, n);
    MC_CU_LAUNCHED(c, sum_squares_partials_kernel);
    return finish(c, blocks, host_sum);
}

mc_status mc_cuda_sum_doubles(mc_cuda_ctx *c, const double *v, int64_t n, double *host_sum) {
    *host_sum = 0.0;
    if (n <= 0) return MC_OK;
    unsigned blocks = first_pass_blocks(n);
    sum_partials_kernel<<<blocks, MC_CUDA_THREADS, 0, c->stream>>>(c->partials, v, n);
    MC_CU_LAUNCHED(c, sum_partials_kernel);
    return finish(c, blocks, host_sum);
}
