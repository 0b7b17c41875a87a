/* safe_name.h: a file name made from a value read from an input (a symbol, a series UID, an image's
 * path), safe to join to an output folder: it cannot climb out of the folder, hide as a dot-file or
 * collide with the name of another value. */
#ifndef MOECORE_SAFE_NAME_H
#define MOECORE_SAFE_NAME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_SAFE_NAME_MIN 32 /* the smallest out buffer mc_safe_name accepts */

/* out = in where every byte is one of [A-Za-z0-9._-] and the first is not '.', and in fits in size;
 * otherwise each other byte (and a leading '.') becomes '_', the result is cut to fit, and "-" and
 * the first 8 hex digits of SHA-256(in) are appended, so that two values that differ never give the
 * same name. size >= MC_SAFE_NAME_MIN; an empty in gives "_" with the hash. */
void mc_safe_name(char *out, size_t size, const char *in);

#ifdef __cplusplus
}
#endif
#endif
