/* safe_name.h: a file name made from a value read from an input (a symbol, a series UID, an image
 * name), safe to join to a folder: it cannot leave the folder, hide itself or pass for an option,
 * and two different values never share a name (short of a 64-bit hash collision). */
#ifndef MOECORE_SAFE_NAME_H
#define MOECORE_SAFE_NAME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_SAFE_NAME_SIZE 81 /* a buffer for the longest name: 80 characters and the NUL */

/* out = in as a file name, at most min(size, MC_SAFE_NAME_SIZE) - 1 characters, NUL-terminated:
 *   - only the characters A-Z a-z 0-9 . _ - ; every other byte becomes '_';
 *   - a leading '.' or '-' becomes '_' (no hidden files, nothing read as an option);
 *   - when anything had to change (a byte replaced, the name shortened to fit, an empty or NULL in,
 *     or an in that already ends the way a changed name does), "-" and 16 hex digits of the SHA-256
 *     of in are appended, so two different inputs give two different names.
 * A name that needed no change is in itself ("GBMA" -> "GBMA", "../../x" -> "_._.._x-<hash>").
 * The caller adds its own extension. size must be at least 24; a smaller buffer gets "". */
void mc_safe_name(char *out, size_t size, const char *in);

#ifdef __cplusplus
}
#endif
#endif
