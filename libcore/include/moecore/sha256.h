/* sha256.h: SHA-256 (FIPS 180-4) of a byte buffer, as lowercase hex: the content hash that identifies
 * an input or a model file in the results store (an inspected image, a model). */
#ifndef MOECORE_SHA256_H
#define MOECORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_SHA256_HEX 65 /* 64 hex digits and the terminating NUL */

/* hex = SHA-256(data[0 .. n)). */
void mc_sha256_hex(const uint8_t *data, size_t n, char hex[MC_SHA256_HEX]);

#ifdef __cplusplus
}
#endif
#endif
