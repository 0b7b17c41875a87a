/* device.c: choosing the compute device; asks the CUDA backend (cuda/device.cu) when it is built. */
#include "moecore/device.h"

#include <stdio.h>
#include <string.h>

#include "moecore/config.h"

#if MC_HAVE_CUDA
/* cuda/device.cu */
int mc_cuda_runtime_count(char *why, size_t size);
void mc_cuda_runtime_describe(int device, char *buf, size_t size);
#endif

static const char *const device_names[] = {"cpu", "cuda", "auto"};

const char *mc_device_name(mc_device_kind d) {
    return (unsigned)d <= MC_DEVICE_AUTO ? device_names[d] : "?";
}

int mc_device_parse(const char *word, mc_device_kind *out) {
    for (int d = MC_DEVICE_CPU; d <= MC_DEVICE_AUTO; d++) {
        if (word && strcmp(word, device_names[d]) == 0) {
            *out = (mc_device_kind)d;
            return 0;
        }
    }
    return -1;
}

/* Device count and, when zero, the reason. */
static int cuda_count(char *why, size_t size) {
#if MC_HAVE_CUDA
    return mc_cuda_runtime_count(why, size);
#else
    snprintf(why, size, "this build has no CUDA backend (built with MC_CUDA=OFF or without the toolkit)");
    return 0;
#endif
}

int mc_cuda_device_count(void) {
    char why[256];
    return cuda_count(why, sizeof why);
}

void mc_cuda_describe(char *buf, size_t size) {
    char why[256];
    if (cuda_count(why, sizeof why) == 0) {
        snprintf(buf, size, "no CUDA device: %s", why);
        return;
    }
#if MC_HAVE_CUDA
    mc_cuda_runtime_describe(0, buf, size);
#endif
}

mc_status mc_device_resolve(mc_device_kind requested, mc_device_kind *out, mc_error *err) {
    if (!out || (unsigned)requested > MC_DEVICE_AUTO)
        return mc_error_set(err, MC_ERR_ARG, "mc_device_resolve: invalid arguments");
    if (requested == MC_DEVICE_CPU) {
        *out = MC_DEVICE_CPU;
        return MC_OK;
    }
    char why[256];
    int n = cuda_count(why, sizeof why);
    if (n > 0) {
        *out = MC_DEVICE_CUDA;
        return MC_OK;
    }
    if (requested == MC_DEVICE_AUTO) {
        *out = MC_DEVICE_CPU;
        return MC_OK;
    }
    return mc_error_set(err, MC_ERR_DEVICE, "--device cuda: no CUDA device: %s", why);
}
