/* version.h: the version of moesuite and the configuration it was built with, for --version and
 * for the runs table. */
#ifndef MOECORE_VERSION_H
#define MOECORE_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

/* "0.1.0". */
const char *mc_version(void);

/* One line: build type, CUDA backend on/off (with the toolkit version), and the versions of the
 * libraries linked in, e.g. "Release; CUDA on (toolkit 13.0); SQLite 3.40.1; jansson 2.14;
 * OpenMP 201511". The string is static. */
const char *mc_build_info(void);

#ifdef __cplusplus
}
#endif
#endif
