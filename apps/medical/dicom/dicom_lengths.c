/* dicom_lengths.c: the walk over a DICOM file's element headers (dicom_lengths.h). It follows PS3.5
 * chapter 7: an element is a tag, in explicit VR a two-letter VR, and a length of 16 or 32 bits; a
 * length of FFFFFFFFH (undefined) opens a sequence of items ended by a delimiter, or, for Pixel
 * Data, a run of fragments. It is lenient where a reader can be without cost (a missing delimiter
 * at the end of the file, a few trailing bytes) and strict only on lengths. */
#include "dicom_lengths.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "moecore/budget.h"

#define UNDEFINED 0xffffffffu
#define MAX_DEPTH 64      /* sequences inside items inside sequences: no real file comes near */

enum { IMPLICIT, MIXED };

typedef struct walk {
    int fd;
    const uint8_t *mem; /* when set, the bytes walked (an inflated data set) instead of the file's */
    const char *path;
    uint64_t size;
    uint64_t holds; /* what a reader holds: the file, or the meta information and the inflated data set */
    int big;      /* big endian (explicit VR big endian, retired but still read) */
    int explicit; /* IMPLICIT, or MIXED: explicit VR where the two bytes after the tag are a VR and
                     implicit where not, as GDCM reads an explicit VR data set that turns out to
                     hold implicit elements */
    mc_error *err;
} walk;

static int get(walk *w, uint64_t pos, uint8_t *b, size_t n) {
    if (w->mem) { /* the walk never asks beyond size */
        memcpy(b, w->mem + pos, n);
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(w->fd, b + got, n - got, (off_t)(pos + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            mc_error_set(w->err, MC_ERR_IO, "%s: cannot read at byte %llu", w->path, (unsigned long long)(pos + got));
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

static uint16_t u16(const walk *w, const uint8_t *b) {
    return w->big ? (uint16_t)(b[0] << 8 | b[1]) : (uint16_t)(b[1] << 8 | b[0]);
}

static uint32_t u32(const walk *w, const uint8_t *b) {
    return w->big ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]
                  : (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

/* Whether vr is one of list's two-letter names, separated by single spaces. */
static int vr_in(const uint8_t *vr, const char *list) {
    for (const char *p = list;; p += 3) {
        if (vr[0] == (uint8_t)p[0] && vr[1] == (uint8_t)p[1]) return 1;
        if (p[2] == '\0') return 0;
    }
}

static int is_vr(const uint8_t *vr) {
    return vr_in(vr, "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
                     "UR US UT UV");
}

/* the VRs with two reserved bytes and a 32-bit length (PS3.5 table 7.1-1) */
static int long_vr(const uint8_t *vr) { return vr_in(vr, "OB OD OF OL OV OW SQ SV UC UN UR UT UV"); }

static int too_long(walk *w, unsigned g, unsigned e, uint32_t len, uint64_t left) {
    return mc_error_set(w->err, MC_ERR_FORMAT, "%s: element (%04X,%04X) declares %lu bytes where %llu remain: truncated or corrupt",
                        w->path, g, e, (unsigned long)len, (unsigned long long)left),
           -1;
}

static int walk_items(walk *w, uint64_t *pos, uint64_t end, int depth);

/* The next item header (FFFE,E000) of a sequence or of encapsulated Pixel Data (what: "an item",
 * "a fragment") at *pos: 1 with *len its length and *pos past the header; 0 at the sequence
 * delimiter (*pos past it) or the end (*pos = end: no delimiter before the end of the file, nothing
 * to allocate); -1 when something else stands there. */
static int next_item(walk *w, uint64_t *pos, uint64_t end, const char *what, uint32_t *len) {
    uint8_t h[8];
    if (end - *pos < 8) {
        *pos = end;
        return 0;
    }
    if (get(w, *pos, h, 8) < 0) return -1;
    unsigned g = u16(w, h), e = u16(w, h + 2);
    *len = u32(w, h + 4);
    *pos += 8;
    if (g == 0xfffe && e == 0xe0dd) return 0;
    if (g != 0xfffe || e != 0xe000)
        return mc_error_set(w->err, MC_ERR_FORMAT, "%s: (%04X,%04X) stands where %s should be: corrupt", w->path, g, e, what),
               -1;
    return 1;
}

/* The fragments of encapsulated Pixel Data, up to the sequence delimiter. */
static int walk_fragments(walk *w, uint64_t *pos, uint64_t end) {
    uint32_t len;
    int r;
    while ((r = next_item(w, pos, end, "a fragment", &len)) == 1) {
        if (len == UNDEFINED || len > end - *pos) return too_long(w, 0xfffe, 0xe000, len, end - *pos);
        *pos += len;
    }
    return r;
}

/* The elements of a data set or item from *pos: up to end, or, with until_delimiter, up to an item
 * delimitation item; with meta, only while the group is 0002 (the file meta information). */
static int walk_elements(walk *w, uint64_t *pos, uint64_t end, int until_delimiter, int meta, int depth, char *ts) {
    if (depth > MAX_DEPTH)
        return mc_error_set(w->err, MC_ERR_FORMAT, "%s: sequences nested deeper than %d: corrupt", w->path, MAX_DEPTH), -1;
    uint8_t h[12];
    while (end - *pos >= 8) {
        if (get(w, *pos, h, 8) < 0) return -1;
        unsigned g = u16(w, h), e = u16(w, h + 2);
        if (meta && g != 0x0002) return 0;
        if (g == 0xfffe && e == 0xe00d) { /* item delimitation */
            *pos += 8;
            if (until_delimiter) return 0;
            continue;
        }
        if (g == 0xfffe && e == 0xe0dd) { /* a sequence delimiter out of place: nothing to allocate */
            *pos += 8;
            continue;
        }
        uint32_t len;
        int sq = 0, un = 0;
        uint64_t head = 8;
        int has_vr = w->explicit == MIXED && is_vr(h + 4);
        if (w->explicit == MIXED && !has_vr && g == 0xfffe && e == 0xe000) {
            *pos += 4; /* an item tag out of place in a data set: GDCM skips the tag alone */
            continue;
        }
        if (has_vr) {
            sq = h[4] == 'S' && h[5] == 'Q';
            un = h[4] == 'U' && h[5] == 'N';
            if (long_vr(h + 4)) {
                if (end - *pos < 12) break;
                if (get(w, *pos, h, 12) < 0) return -1;
                len = u32(w, h + 8);
                head = 12;
            } else {
                len = u16(w, h + 6);
            }
        } else {
            len = u32(w, h + 4);
        }
        *pos += head;
        if (len == UNDEFINED) {
            int r;
            if (g == 0x7fe0 && e == 0x0010) {
                r = walk_fragments(w, pos, end);
            } else if (g == 0xfffe) { /* an item out of place: its elements up to its delimiter */
                r = walk_elements(w, pos, end, 1, 0, depth + 1, NULL);
            } else if (un) { /* UN of undefined length holds implicit VR little endian (PS3.5 6.2.2) */
                walk inner = *w;
                inner.explicit = IMPLICIT;
                inner.big = 0;
                r = walk_items(&inner, pos, end, depth + 1);
            } else {
                r = walk_items(w, pos, end, depth + 1);
            }
            if (r != 0) return r;
            continue;
        }
        if (len > end - *pos) return too_long(w, g, e, len, end - *pos);
        uint64_t next = *pos + len;
        if (meta && e == 0x0010 && len < 65) { /* Transfer Syntax UID */
            if (get(w, *pos, (uint8_t *)ts, len) < 0) return -1;
            ts[len] = '\0';
        }
        /* a sequence of defined length: its items hold elements of their own. Without a VR (implicit,
         * or UN) a value that starts with an item tag is read as one, as readers do. */
        if (!sq && len >= 8 && (!has_vr || un)) {
            uint8_t t[4];
            if (get(w, *pos, t, 4) < 0) return -1;
            walk probe = *w;
            if (un) probe.big = 0;
            sq = u16(&probe, t) == 0xfffe && u16(&probe, t + 2) == 0xe000;
            if (sq && un) {
                walk inner = probe;
                inner.explicit = IMPLICIT;
                int r = walk_items(&inner, pos, next, depth + 1);
                if (r != 0) return r;
                *pos = next;
                continue;
            }
        }
        if (sq) {
            int r = walk_items(w, pos, next, depth + 1);
            if (r != 0) return r;
        }
        *pos = next;
    }
    *pos = end; /* an item of undefined length cut by the end of the file: nothing to allocate */
    return 0;
}

/* The items of a sequence from *pos, up to end or the sequence delimiter. */
static int walk_items(walk *w, uint64_t *pos, uint64_t end, int depth) {
    uint32_t len;
    int r;
    while ((r = next_item(w, pos, end, "an item", &len)) == 1) {
        if (len == UNDEFINED) {
            r = walk_elements(w, pos, end, 1, 0, depth + 1, NULL);
        } else {
            if (len > end - *pos) return too_long(w, 0xfffe, 0xe000, len, end - *pos);
            uint64_t next = *pos + len;
            r = walk_elements(w, pos, next, 0, 0, depth + 1, NULL);
            *pos = next;
        }
        if (r != 0) return r;
    }
    return r;
}

/* The data set from start in the encoding of w. */
static int walk_dataset(walk *w, uint64_t start) {
    uint64_t pos = start;
    return walk_elements(w, &pos, w->size, 0, 0, 0, NULL);
}

/* The deflated transfer syntax: the data set after the meta information is raw deflate (RFC 1951)
 * of explicit VR little endian. GDCM inflates all of it into memory, so it is inflated here too,
 * within the memory budget, and walked there. */
static mc_status check_deflated(walk *w, uint64_t pos) {
    uint64_t start = pos;
    size_t budget = mc_memory_budget(), cap = 1 << 20, used = 0;
    uint8_t *out = malloc(cap), in[65536];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!out || inflateInit2(&z, -MAX_WBITS) != Z_OK) {
        free(out);
        return mc_error_set(w->err, MC_ERR_NOMEM, "%s: out of memory", w->path);
    }
    mc_status st = MC_OK;
    int zr = Z_OK;
    while (zr != Z_STREAM_END && st == MC_OK) {
        if (z.avail_in == 0) {
            size_t n = w->size - pos < sizeof in ? (size_t)(w->size - pos) : sizeof in;
            if (n == 0) break; /* cut short: what was inflated is walked; GDCM fails on the rest */
            if (get(w, pos, in, n) < 0) {
                st = w->err->code;
                break;
            }
            pos += n;
            z.next_in = in;
            z.avail_in = (uInt)n;
        }
        if (used == cap) {
            if (cap >= budget) {
                st = mc_error_set(w->err, MC_ERR_FORMAT, "%s: the deflated data set inflates to more than the memory budget (%zu MiB)",
                                  w->path, budget >> 20);
                break;
            }
            size_t bigger = cap * 2 < budget ? cap * 2 : budget;
            uint8_t *grown = realloc(out, bigger);
            if (!grown) {
                st = mc_error_set(w->err, MC_ERR_NOMEM, "%s: out of memory", w->path);
                break;
            }
            out = grown;
            cap = bigger;
        }
        z.next_out = out + used;
        z.avail_out = (uInt)(cap - used);
        zr = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            st = mc_error_set(w->err, MC_ERR_FORMAT, "%s: the deflated data set is corrupt (%s)", w->path,
                              z.msg ? z.msg : "inflate failed");
    }
    inflateEnd(&z);
    if (st == MC_OK) {
        walk m = *w;
        m.mem = out;
        m.size = used;
        m.explicit = MIXED;
        m.big = 0;
        if (walk_dataset(&m, 0) != 0) st = w->err->code;
        w->holds = start + used;
    }
    free(out);
    return st;
}

static mc_status check(walk *w) {
    uint8_t b[132];
    uint64_t pos = 0;
    if (w->size >= 132) {
        if (get(w, 0, b, 132) < 0) return w->err->code;
        if (memcmp(b + 128, "DICM", 4) == 0) pos = 132;
    }
    /* the file meta information: explicit VR little endian (implicit elements in some old writers),
     * right after DICM when there is a preamble */
    if (pos == 132 && w->size >= 134) {
        if (get(w, 132, b, 2) < 0) return w->err->code;
        if (b[0] != 0x02 || b[1] != 0x00)
            return mc_error_set(w->err, MC_ERR_FORMAT, "%s: no file meta information (group 0002) after DICM: corrupt", w->path);
    }
    char ts[65] = "";
    w->explicit = MIXED;
    if (walk_elements(w, &pos, w->size, 0, 1, 0, ts) != 0) return w->err->code;
    size_t n = strlen(ts);
    while (n > 0 && (ts[n - 1] == ' ' || ts[n - 1] == '\0')) ts[--n] = '\0';
    if (strcmp(ts, "1.2.840.10008.1.2.1.99") == 0) return check_deflated(w, pos);
    w->big = strcmp(ts, "1.2.840.10008.1.2.2") == 0;
    w->explicit = strcmp(ts, "1.2.840.10008.1.2") != 0 ? MIXED : IMPLICIT;
    if (!ts[0] && w->size - pos >= 8) {
        /* no transfer syntax: explicit if the first element has a VR; big endian if its group reads
         * as a small number only that way round */
        if (get(w, pos, b, 8) < 0) return w->err->code;
        w->explicit = is_vr(b + 4) ? MIXED : IMPLICIT;
        w->big = w->explicit == MIXED && b[0] == 0 && b[1] != 0;
    }
    return walk_dataset(w, pos) == 0 ? MC_OK : w->err->code;
}

mc_status med_dicom_check_lengths(const char *path, size_t *holds, mc_error *err) {
    walk w = {0};
    w.path = path;
    w.err = err;
    if ((w.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return mc_error_set(err, MC_ERR_IO, "%s: cannot open", path);
    struct stat st;
    if (fstat(w.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(w.fd);
        return mc_error_set(err, MC_ERR_IO, "%s: not a regular file", path);
    }
    w.size = w.holds = (uint64_t)st.st_size;
    mc_status s = check(&w);
    close(w.fd);
    *holds = (size_t)w.holds;
    return s;
}
