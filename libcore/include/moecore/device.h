/* device.h: the compute device a command runs on (--device cpu|cuda|auto). The CPU backend is
 * always built; the CUDA backend when the build found the toolkit (MC_HAVE_CUDA in config.h).
 * A machine without a GPU or driver simply reports zero CUDA devices. */
#ifndef MOECORE_DEVICE_H
#define MOECORE_DEVICE_H

#include <stddef.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_device_kind { MC_DEVICE_CPU = 0, MC_DEVICE_CUDA, MC_DEVICE_AUTO } mc_device_kind;

/* "cpu", "cuda", "auto". */
const char *mc_device_name(mc_device_kind d);

/* Parses "cpu", "cuda" or "auto". Returns 0, or -1 for another word. */
int mc_device_parse(const char *word, mc_device_kind *out);

/* Number of usable CUDA devices: 0 when the backend is not built, or when the runtime reports
 * any error (no driver, "driver version is insufficient", no device). */
int mc_cuda_device_count(void);

/* Writes a one-line description of CUDA device 0 ("NVIDIA H200, 139 GiB, sm_90") or of why
 * there is none ("no CUDA device: <runtime message>") into buf. */
void mc_cuda_describe(char *buf, size_t size);

/* Resolves requested to a concrete device: auto picks CUDA when a device is present, else the
 * CPU; cuda without a device is MC_ERR_DEVICE with the reason in err. */
mc_status mc_device_resolve(mc_device_kind requested, mc_device_kind *out, mc_error *err);

#ifdef __cplusplus
}
#endif
#endif
