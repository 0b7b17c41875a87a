/* safe_name.c: file names from input values (safe_name.h). */
#include "moecore/safe_name.h"

#include <string.h>

#include "moecore/sha256.h"

static int safe_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

void mc_safe_name(char *out, size_t size, const char *in) {
    const size_t n = strlen(in), tail = 9; /* "-" and 8 hex digits */
    int changed = n == 0 || n >= size;
    size_t keep = n < size ? n : size - 1;
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)in[i];
        int ok = safe_byte(c) && !(i == 0 && c == '.');
        out[i] = ok ? (char)c : '_';
        changed |= !ok;
    }
    if (!changed) {
        out[keep] = '\0';
        return;
    }
    if (keep > size - 1 - tail) keep = size - 1 - tail;
    if (keep == 0) out[keep++] = '_';
    char hex[MC_SHA256_HEX];
    mc_sha256_hex((const unsigned char *)in, n, hex);
    out[keep] = '-';
    memcpy(out + keep + 1, hex, 8);
    out[keep + 1 + 8] = '\0';
}
