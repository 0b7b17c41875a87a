/* safe_name.c: file names from input values (safe_name.h). */
#include "moecore/safe_name.h"

#include <stdint.h>
#include <string.h>

#include "moecore/sha256.h"

enum { HASH_DIGITS = 16 }; /* 64 bits of the SHA-256 */

static int allowed(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Whether s ends as a changed name does: '-' and HASH_DIGITS lowercase hex digits. */
static int ends_like_hash(const char *s, size_t n) {
    if (n < HASH_DIGITS + 1 || s[n - HASH_DIGITS - 1] != '-') return 0;
    for (size_t i = n - HASH_DIGITS; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

void mc_safe_name(char *out, size_t size, const char *in) {
    if (size == 0) return;
    out[0] = '\0';
    if (size < 24) return;
    size_t limit = (size < MC_SAFE_NAME_SIZE ? size : MC_SAFE_NAME_SIZE) - 1;
    const char *s = in ? in : "";
    size_t n = strlen(s);
    int changed = in == NULL || n == 0 || n > limit || ends_like_hash(s, n);
    size_t keep = changed ? (n < limit - HASH_DIGITS - 1 ? n : limit - HASH_DIGITS - 1) : n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = allowed(c) && !(i == 0 && (c == '.' || c == '-'));
        if (!ok && !changed) {
            changed = 1;
            keep = n < limit - HASH_DIGITS - 1 ? n : limit - HASH_DIGITS - 1;
        }
        if (i < keep) out[i] = ok ? (char)c : '_';
    }
    if (keep == 0 && changed) out[keep++] = '_';
    out[keep] = '\0';
    if (!changed) return;
    char hex[MC_SHA256_HEX];
    mc_sha256_hex((const uint8_t *)s, n, hex);
    out[keep] = '-';
    memcpy(out + keep + 1, hex, HASH_DIGITS);
    out[keep + 1 + HASH_DIGITS] = '\0';
}
