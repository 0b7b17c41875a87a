/* version.c: the version string and the build configuration shown by --version. */
#include "moecore/version.h"

#include <cblas.h>
#include <dnnl.h>
#include <gsl/gsl_version.h>
#include <jansson.h>
#include <omp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>

#include "moecore/config.h"

#if MC_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static char build_info[768];
static pthread_once_t build_once = PTHREAD_ONCE_INIT;

static void make_build_info(void) {
    char cuda[64];
#if MC_HAVE_CUDA
    snprintf(cuda, sizeof cuda, "CUDA on (toolkit %d.%d)", CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
#else
    snprintf(cuda, sizeof cuda, "CUDA off");
#endif
    const dnnl_version_t *dv = dnnl_version();
    snprintf(build_info, sizeof build_info, "%s; %s; %s; oneDNN %d.%d.%d; GSL %s; SQLite %s; jansson %s; OpenMP %d",
             MC_BUILD_TYPE, cuda, openblas_get_config(), dv->major, dv->minor, dv->patch, gsl_version, sqlite3_libversion(),
             jansson_version_str(), _OPENMP);
}

const char *mc_version(void) { return MC_VERSION; }

const char *mc_build_info(void) {
    pthread_once(&build_once, make_build_info);
    return build_info;
}
