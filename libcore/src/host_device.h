/* host_device.h: MC_HOST_DEVICE marks a function that the CPU code and the CUDA kernels share, so
 * that one piece of code serves both backends: __host__ __device__ under nvcc, nothing in C. */
#ifndef MOECORE_HOST_DEVICE_H
#define MOECORE_HOST_DEVICE_H

#ifdef __CUDACC__
#define MC_HOST_DEVICE __host__ __device__
#else
#define MC_HOST_DEVICE
#endif

#endif
