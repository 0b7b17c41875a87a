/* cuda/device.cu: device discovery through the CUDA runtime. Any runtime error (no driver,
 * "driver version is insufficient", no device) means "no GPU", never a failure. */
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int mc_cuda_runtime_count(char *why, size_t size) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(why, size, "%s", cudaGetErrorString(e));
        cudaGetLastError(); /* clear the sticky error */
        return 0;
    }
    if (n == 0) snprintf(why, size, "the CUDA runtime found no device");
    return n;
}

extern "C" void mc_cuda_runtime_describe(int device, char *buf, size_t size) {
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) {
        snprintf(buf, size, "CUDA device %d: %s", device, cudaGetErrorString(e));
        return;
    }
    snprintf(buf, size, "%s, %.0f GiB, sm_%d%d", p.name, (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0),
             p.major, p.minor);
}
