/* model_io.c: safetensors model files. Saving writes a temporary file beside the target and
 * renames it over the target; loading treats the file as hostile and checks the header length, the
 * JSON, every dtype, shape and offset, overlaps and holes before it allocates or copies any data. */
#include "moecore/model_io.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moecore/outfile.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors data is little-endian and is copied to and from memory as is");

#define ST_ALIGN 64 /* alignment of the data buffer in files we write and of every tensor we load */
#define ST_META_KEY "__metadata__"
#define ST_NAME_MAX 100 /* longest tensor name quoted in an error message */

struct mc_safetensors {
    int n, n_meta;
    mc_st_tensor *tensors;        /* n, in the order of their data offsets */
    const mc_st_tensor **by_name; /* n, sorted by name, for mc_safetensors_find */
    mc_st_meta *meta;             /* n_meta */
    char *strings;                /* every tensor name, metadata key and value */
    void *data;                   /* every tensor's bytes, each at a 64-byte aligned offset */
};

/* A tensor while loading: its view and its byte range in the file's data buffer. */
typedef struct st_entry {
    mc_st_tensor t;
    uint64_t begin, end;
} st_entry;

static uint64_t round_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

/* Bytes of a tensor of dtype dt and shape (dims >= 0) in *out; -1 when the product overflows. */
static int shape_bytes(mc_dtype dt, const int64_t *shape, int ndim, uint64_t *out) {
    uint64_t b = mc_dtype_size(dt);
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(b, (uint64_t)shape[d], &b)) return -1;
    *out = b;
    return 0;
}

/* "[4, 5]"; buf holds at least 200 bytes, enough for MC_ST_MAX_DIMS dimensions. */
static const char *shape_text(char *buf, size_t cap, const int64_t *shape, int ndim) {
    int k = snprintf(buf, cap, "[");
    for (int d = 0; d < ndim; d++)
        k += snprintf(buf + k, cap - (size_t)k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    snprintf(buf + k, cap - (size_t)k, "]");
    return buf;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const mc_st_tensor *const *)a)->name, (*(const mc_st_tensor *const *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->t.name, y->t.name);
}

/* ---- loading ---- */

/* Records "<path>: tensor '<name>': <message>". */
__attribute__((format(printf, 5, 6))) static mc_status tensor_error(mc_error *err, mc_status code, const char *path,
                                                                    const char *name, const char *fmt, ...) {
    char msg[MC_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mc_error_set(err, code, "%s: tensor '%.*s': %s", path, ST_NAME_MAX, name, msg);
}

static int read_exact(FILE *fp, void *buf, size_t n) {
    return n == 0 || fread(buf, 1, n, fp) == n ? 0 : -1;
}

static mc_status read_error(FILE *fp, const char *path, const char *what, mc_error *err) {
    if (ferror(fp)) return mc_error_set(err, MC_ERR_IO, "%s: cannot read %s: %s", path, what, strerror(errno));
    return mc_error_set(err, MC_ERR_IO, "%s: file ended while reading %s (it changed while being read)", path, what);
}

/* Reads the header length and the header (NUL-terminated, owned by the caller) and sets the size
 * of the data buffer that follows it. */
static mc_status read_header(FILE *fp, const char *path, char **header, uint64_t *len, uint64_t *data_size,
                             mc_error *err) {
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) return mc_error_set(err, MC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return mc_error_set(err, MC_ERR_IO, "%s: not a regular file", path);
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: file is %llu bytes, too short for the 8-byte header length", path,
                            (unsigned long long)size);
    unsigned char b[8];
    if (read_exact(fp, b, 8) != 0) return read_error(fp, path, "the header length", err);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    if (n == 0) return mc_error_set(err, MC_ERR_FORMAT, "%s: header length is 0", path);
    /* Beyond the limit, the first 8 bytes are no header length at all: the file is something else
     * (the 8 bytes of any text or image give more than 10^17). Within it, a length past the end is a
     * truncated file. */
    if (n > MC_ST_MAX_HEADER)
        return mc_error_set(err, MC_ERR_FORMAT,
                            "%s: not a safetensors file (its first 8 bytes are not a plausible header length for a "
                            "%llu-byte file; headers are at most %u bytes)",
                            path, (unsigned long long)size, MC_ST_MAX_HEADER);
    if (n > size - 8)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: header length %llu runs past the end of the %llu-byte file", path,
                            (unsigned long long)n, (unsigned long long)size);
    char *h = malloc((size_t)n + 1);
    if (!h)
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)n);
    if (read_exact(fp, h, (size_t)n) != 0) {
        free(h);
        return read_error(fp, path, "the header", err);
    }
    h[n] = '\0';
    *header = h;
    *len = n;
    *data_size = size - 8 - n;
    return MC_OK;
}

/* Reads a JSON integer >= 0 into *out; -1 for anything else. */
static int json_count(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Checks one tensor entry against the format and the data buffer size and fills e (its name points
 * into the JSON). */
static mc_status parse_tensor(const char *path, const char *name, const json_t *v, uint64_t data_size, st_entry *e,
                              mc_error *err) {
    if (!json_is_object(v)) return tensor_error(err, MC_ERR_FORMAT, path, name, "entry is not an object");
    const char *key;
    const json_t *field;
    json_object_foreach((json_t *)v, key, field) {
        if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 && strcmp(key, "data_offsets") != 0)
            return tensor_error(err, MC_ERR_FORMAT, path, name, "unexpected key '%.*s'", ST_NAME_MAX, key);
    }
    const json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
                 *offsets = json_object_get(v, "data_offsets");
    if (!dtype || !shape || !offsets)
        return tensor_error(err, MC_ERR_FORMAT, path, name, "missing \"%s\"",
                            !dtype   ? "dtype"
                            : !shape ? "shape"
                                     : "data_offsets");

    memset(e, 0, sizeof *e);
    e->t.name = name;
    if (!json_is_string(dtype)) return tensor_error(err, MC_ERR_FORMAT, path, name, "dtype is not a string");
    if (mc_dtype_parse(json_string_value(dtype), &e->t.dtype) != 0)
        return tensor_error(err, MC_ERR_UNSUPPORTED, path, name, "unknown dtype '%.32s'", json_string_value(dtype));

    if (!json_is_array(shape)) return tensor_error(err, MC_ERR_FORMAT, path, name, "shape is not an array");
    if (json_array_size(shape) > MC_ST_MAX_DIMS)
        return tensor_error(err, MC_ERR_FORMAT, path, name, "shape has %zu dimensions, more than %d",
                            json_array_size(shape), MC_ST_MAX_DIMS);
    e->t.ndim = (int)json_array_size(shape);
    for (int d = 0; d < e->t.ndim; d++) {
        uint64_t dim;
        if (json_count(json_array_get(shape, (size_t)d), &dim) != 0)
            return tensor_error(err, MC_ERR_FORMAT, path, name, "shape dimension %d is not a non-negative integer", d);
        e->t.shape[d] = (int64_t)dim;
    }

    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        json_count(json_array_get(offsets, 0), &e->begin) != 0 || json_count(json_array_get(offsets, 1), &e->end) != 0)
        return tensor_error(err, MC_ERR_FORMAT, path, name,
                            "data_offsets is not an array of two non-negative integers");
    unsigned long long b = e->begin, en = e->end;
    if (e->begin > e->end)
        return tensor_error(err, MC_ERR_FORMAT, path, name, "data_offsets [%llu, %llu]: begin is after end", b, en);
    if (e->end > data_size)
        return tensor_error(err, MC_ERR_FORMAT, path, name,
                            "data_offsets [%llu, %llu] end past the %llu-byte data buffer", b, en,
                            (unsigned long long)data_size);

    char st[200];
    uint64_t need;
    if (shape_bytes(e->t.dtype, e->t.shape, e->t.ndim, &need) != 0)
        return tensor_error(err, MC_ERR_FORMAT, path, name, "shape %s of %s overflows 64-bit sizes",
                            shape_text(st, sizeof st, e->t.shape, e->t.ndim), mc_dtype_name(e->t.dtype));
    if (need != e->end - e->begin)
        return tensor_error(err, MC_ERR_FORMAT, path, name,
                            "data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %llu", b, en, en - b,
                            shape_text(st, sizeof st, e->t.shape, e->t.ndim), mc_dtype_name(e->t.dtype),
                            (unsigned long long)need);
    e->t.nbytes = (size_t)need;
    return MC_OK;
}

/* Parses the header: *entries (n, caller frees) and *meta (NULL when absent) point into *root. */
static mc_status parse_header(const char *path, const char *header, uint64_t len, uint64_t data_size, json_t **root,
                              st_entry **entries, int *n, const json_t **meta, mc_error *err) {
    if (header[0] != '{')
        return mc_error_set(err, MC_ERR_FORMAT,
                            "%s: not a safetensors file: header is not a JSON object (it starts with byte 0x%02x, not '{')",
                            path, (unsigned char)header[0]);
    json_error_t je;
    *root = json_loadb(header, (size_t)len, JSON_REJECT_DUPLICATES, &je);
    if (!*root)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: header is not valid JSON: %s (at byte %d)", path, je.text,
                            je.position);
    *meta = json_object_get(*root, ST_META_KEY);
    if (*meta) {
        if (!json_is_object(*meta))
            return mc_error_set(err, MC_ERR_FORMAT, "%s: %s is not an object", path, ST_META_KEY);
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)*meta, key, v) {
            if (!json_is_string(v))
                return mc_error_set(err, MC_ERR_FORMAT, "%s: %s value '%.*s' is not a string", path, ST_META_KEY,
                                    ST_NAME_MAX, key);
        }
    }
    size_t count = json_object_size(*root) - (*meta != NULL);
    *entries = calloc(count + 1, sizeof **entries);
    if (!*entries) return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory for %zu tensors", path, count);
    *n = 0;
    const char *name;
    const json_t *v;
    json_object_foreach(*root, name, v) {
        if (v == *meta) continue;
        mc_status st = parse_tensor(path, name, v, data_size, &(*entries)[*n], err);
        if (st != MC_OK) return st;
        (*n)++;
    }
    return MC_OK;
}

/* Sorts the entries by offset and checks that they tile the data buffer: no overlap, no hole, no
 * trailing bytes. */
static mc_status check_layout(const char *path, st_entry *e, int n, uint64_t data_size, mc_error *err) {
    qsort(e, (size_t)n, sizeof *e, cmp_offset);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (e[i].begin < pos)
            return mc_error_set(err, MC_ERR_FORMAT, "%s: tensors '%.*s' and '%.*s' overlap in the data buffer", path,
                                ST_NAME_MAX, e[i - 1].t.name, ST_NAME_MAX, e[i].t.name);
        if (e[i].begin > pos)
            return mc_error_set(err, MC_ERR_FORMAT, "%s: hole of %llu bytes in the data buffer before tensor '%.*s'",
                                path, (unsigned long long)(e[i].begin - pos), ST_NAME_MAX, e[i].t.name);
        pos = e[i].end;
    }
    if (pos != data_size)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: %llu bytes after the last tensor in the data buffer", path,
                            (unsigned long long)(data_size - pos));
    return MC_OK;
}

/* What element i of a floating-point tensor t is: NULL when finite, else "NaN", "+inf" or "-inf".
 * Half and bfloat16 values are not finite when their exponent bits are all ones. */
static const char *non_finite(const mc_st_tensor *t, size_t i) {
    const char *at = (const char *)t->data + i * mc_dtype_size(t->dtype);
    int finite, nan, negative;
    if (t->dtype == MC_F32 || t->dtype == MC_F64) {
        double v;
        if (t->dtype == MC_F32) {
            float f;
            memcpy(&f, at, sizeof f);
            v = f;
        } else {
            memcpy(&v, at, sizeof v);
        }
        finite = isfinite(v), nan = isnan(v), negative = signbit(v) != 0;
    } else {
        uint16_t h, exponent = t->dtype == MC_F16 ? 0x7c00 : 0x7f80;
        memcpy(&h, at, sizeof h);
        finite = (h & exponent) != exponent, nan = (h & (0x7fff & ~exponent)) != 0, negative = h >> 15;
    }
    return finite ? NULL : nan ? "NaN" : negative ? "-inf" : "+inf";
}

/* Builds the handle from checked entries (sorted by offset) and reads the data buffer, which
 * starts at the current position of fp, placing each tensor at a 64-byte aligned offset. */
static mc_status build(FILE *fp, const char *path, const st_entry *e, int n, const json_t *meta, mc_safetensors **out,
                       mc_error *err) {
    size_t pool = 0;
    uint64_t mem = 0;
    for (int i = 0; i < n; i++) {
        pool += strlen(e[i].t.name) + 1;
        mem += round_up(e[i].t.nbytes, ST_ALIGN);
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)meta, key, v) pool += strlen(key) + strlen(json_string_value(v)) + 2;
    int n_meta = (int)json_object_size(meta);

    mc_safetensors *f = calloc(1, sizeof *f);
    if (f) {
        f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
        f->by_name = calloc((size_t)n + 1, sizeof *f->by_name);
        f->meta = calloc((size_t)n_meta + 1, sizeof *f->meta);
        f->strings = malloc(pool + 1);
        if (mem <= SIZE_MAX - ST_ALIGN) f->data = aligned_alloc(ST_ALIGN, mem ? (size_t)mem : ST_ALIGN);
    }
    if (!f || !f->tensors || !f->by_name || !f->meta || !f->strings || !f->data) {
        mc_safetensors_close(f);
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory for %llu bytes of tensors", path,
                            (unsigned long long)mem);
    }
    char *s = f->strings;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        mc_st_tensor *t = &f->tensors[i];
        *t = e[i].t;
        t->name = strcpy(s, e[i].t.name);
        s += strlen(s) + 1;
        t->data = (char *)f->data + at;
        if (read_exact(fp, (char *)f->data + at, t->nbytes) != 0) {
            mc_safetensors_close(f);
            return read_error(fp, path, "the tensor data", err);
        }

        at += (size_t)round_up(t->nbytes, ST_ALIGN);
        f->by_name[i] = t;
    }
    json_object_foreach((json_t *)meta, key, v) {
        mc_st_meta *m = &f->meta[f->n_meta++];
        m->key = strcpy(s, key);
        s += strlen(s) + 1;
        m->value = strcpy(s, json_string_value(v));
        s += strlen(s) + 1;
    }
    f->n = n;
    qsort(f->by_name, (size_t)n, sizeof *f->by_name, cmp_name);
    *out = f;
    return MC_OK;
}

mc_status mc_safetensors_open(mc_safetensors **out, const char *path, mc_error *err) {
    if (out) *out = NULL;
    if (!out || !path) return mc_error_set(err, MC_ERR_ARG, "mc_safetensors_open: out and path must not be NULL");
    FILE *fp = fopen(path, "rb");
    if (!fp) return mc_error_set(err, MC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *header = NULL;
    json_t *root = NULL;
    st_entry *entries = NULL;
    const json_t *meta = NULL;
    uint64_t len = 0, data_size = 0;
    int n = 0;
    mc_status st = read_header(fp, path, &header, &len, &data_size, err);
    if (st == MC_OK) st = parse_header(path, header, len, data_size, &root, &entries, &n, &meta, err);
    if (st == MC_OK) st = check_layout(path, entries, n, data_size, err);
    if (st == MC_OK) st = build(fp, path, entries, n, meta, out, err);
    free(entries);
    json_decref(root);
    free(header);
    fclose(fp);
    return st;
}

int mc_safetensors_count(const mc_safetensors *f) {
    return f ? f->n : 0;
}

const mc_st_tensor *mc_safetensors_at(const mc_safetensors *f, int i) {
    return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const mc_st_tensor *mc_safetensors_find(const mc_safetensors *f, const char *name) {
    if (!f || !name) return NULL;
    const mc_st_tensor key = {.name = name}, *kp = &key;
    const mc_st_tensor *const *hit = bsearch(&kp, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    return hit ? *hit : NULL;
}

const char *mc_safetensors_meta(const mc_safetensors *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

mc_status mc_safetensors_check_finite(const mc_safetensors *f, const char *path, mc_error *err) {
    if (!f || !path) return mc_error_set(err, MC_ERR_ARG, "mc_safetensors_check_finite: f and path must not be NULL");
    for (int k = 0; k < f->n; k++) {
        const mc_st_tensor *t = &f->tensors[k];
        if (t->dtype != MC_F32 && t->dtype != MC_F64 && t->dtype != MC_F16 && t->dtype != MC_BF16) continue;
        size_t n = t->nbytes / mc_dtype_size(t->dtype);
        for (size_t i = 0; i < n; i++) {
            const char *what = non_finite(t, i);
            if (what)
                return tensor_error(err, MC_ERR_FORMAT, path, t->name,
                                    "element %zu is %s: every value of a model must be finite", i, what);
        }
    }
    return MC_OK;
}

void mc_safetensors_close(mc_safetensors *f) {
    if (!f) return;
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->strings);
    free(f->data);
    free(f);
}

/* ---- saving ---- */

/* {"dtype": .., "shape": [..], "data_offsets": [begin, end]}, or NULL when out of memory. Every
 * jansson call below accepts the NULL of an earlier failed allocation and frees what it is given. */
static json_t *tensor_json(const mc_st_tensor *t, uint64_t begin) {
    json_t *o = json_object(), *shape = json_array(), *offsets = json_array();
    int bad = 0;
    for (int d = 0; d < t->ndim; d++) bad |= json_array_append_new(shape, json_integer(t->shape[d]));
    bad |= json_array_append_new(offsets, json_integer((json_int_t)begin));
    bad |= json_array_append_new(offsets, json_integer((json_int_t)(begin + t->nbytes)));
    bad |= json_object_set_new(o, "dtype", json_string(mc_dtype_name(t->dtype)));
    bad |= json_object_set_new(o, "shape", shape);
    bad |= json_object_set_new(o, "data_offsets", offsets);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Checks the arguments and builds the JSON header (without padding); caller frees *text. */
static mc_status make_header(const char *path, const mc_st_tensor *tensors, int n, const mc_st_meta *meta, int n_meta,
                             char **text, mc_error *err) {
    json_t *root = json_object(), *m = n_meta > 0 ? json_object() : NULL;
    if (!root || (n_meta > 0 && !m)) {
        json_decref(root);
        json_decref(m);
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    }
    mc_status st = MC_OK;
    for (int i = 0; i < n_meta && st == MC_OK; i++) {
        const mc_st_meta *e = &meta[i];
        if (!e->key || !e->value)
            st = mc_error_set(err, MC_ERR_ARG, "%s: metadata entry %d has a NULL key or value", path, i);
        else if (json_object_get(m, e->key))
            st = mc_error_set(err, MC_ERR_ARG, "%s: metadata key '%.*s' appears twice", path, ST_NAME_MAX, e->key);
        else if (json_object_set_new(m, e->key, json_string(e->value)) != 0)
            st = mc_error_set(err, MC_ERR_ARG, "%s: metadata '%.*s' is not valid UTF-8", path, ST_NAME_MAX, e->key);
    }
    if (st == MC_OK && m && json_object_set(root, ST_META_KEY, m) != 0)
        st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    uint64_t offset = 0;
    for (int i = 0; i < n && st == MC_OK; i++) {
        const mc_st_tensor *t = &tensors[i];
        const char *name = t->name;
        char shp[200];
        uint64_t need = 0;
        int shape_ok = t->ndim >= 0 && t->ndim <= MC_ST_MAX_DIMS;
        for (int d = 0; shape_ok && d < t->ndim; d++) shape_ok = t->shape[d] >= 0;
        if (!t->name)
            st = mc_error_set(err, MC_ERR_ARG, "%s: tensor %d has no name", path, i);
        else if (strcmp(t->name, ST_META_KEY) == 0)
            st = mc_error_set(err, MC_ERR_ARG, "%s: tensor %d has the reserved name '%s'", path, i, ST_META_KEY);
        else if (json_object_get(root, t->name))
            st = tensor_error(err, MC_ERR_ARG, path, name, "name appears twice");
        else if (mc_dtype_size(t->dtype) == 0)
            st = tensor_error(err, MC_ERR_ARG, path, name, "invalid dtype %d", (int)t->dtype);
        else if (!shape_ok)
            st = tensor_error(err, MC_ERR_ARG, path, name, "ndim %d or a dimension is out of range", t->ndim);
        else if (shape_bytes(t->dtype, t->shape, t->ndim, &need) != 0 || need != t->nbytes)
            st = tensor_error(err, MC_ERR_ARG, path, name, "nbytes %zu does not match shape %s of %s", t->nbytes,
                              shape_text(shp, sizeof shp, t->shape, t->ndim), mc_dtype_name(t->dtype));
        else if (!t->data && t->nbytes > 0)
            st = tensor_error(err, MC_ERR_ARG, path, name, "data is NULL");
        else if (__builtin_add_overflow(offset, (uint64_t)t->nbytes, &need) || need > INT64_MAX)
            st = tensor_error(err, MC_ERR_ARG, path, name, "the data buffer would exceed 2^63 bytes");
        else {
            json_t *e = tensor_json(t, offset);
            if (!e)
                st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
            else if (json_object_set_new(root, t->name, e) != 0)
                st = tensor_error(err, MC_ERR_ARG, path, name, "name is not valid UTF-8");
            offset = need;
        }
    }
    if (st == MC_OK && !(*text = json_dumps(root, JSON_COMPACT)))
        st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    json_decref(m);
    json_decref(root);
    return st;
}

/* Writes header (padded with spaces so that the data buffer starts at a multiple of 64) and the
 * tensors to tmp, and syncs it (a device or FIFO, which cannot be synced, is not an error). Returns
 * 0, or -1 with errno set. */
static int write_file(const char *tmp, const char *header, const mc_st_tensor *tensors, int n) {
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return -1;
    size_t len = strlen(header);
    uint64_t padded = round_up(8 + len, ST_ALIGN) - 8;
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(padded >> (8 * i));
    char spaces[ST_ALIGN];
    memset(spaces, ' ', sizeof spaces);
    int ok = fwrite(b, 1, 8, fp) == 8 && fwrite(header, 1, len, fp) == len &&
             fwrite(spaces, 1, (size_t)padded - len, fp) == (size_t)padded - len;
    for (int i = 0; ok && i < n; i++)
        ok = tensors[i].nbytes == 0 || fwrite(tensors[i].data, 1, tensors[i].nbytes, fp) == tensors[i].nbytes;
    ok = ok && fflush(fp) == 0 && (fsync(fileno(fp)) == 0 || errno == EINVAL || errno == EROFS);
    int saved = errno;
    if (fclose(fp) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    errno = saved;
    return ok ? 0 : -1;
}

mc_status mc_safetensors_save(const char *path, const mc_st_tensor *tensors, int n, const mc_st_meta *meta, int n_meta,
                              mc_error *err) {
    if (!path || n < 0 || n_meta < 0 || (n > 0 && !tensors) || (n_meta > 0 && !meta))
        return mc_error_set(err, MC_ERR_ARG, "mc_safetensors_save: invalid arguments");
    char *header = NULL;
    mc_status st = make_header(path, tensors, n, meta, n_meta, &header, err);
    if (st != MC_OK) return st;
    mc_outfile out;
    if ((st = mc_outfile_begin(&out, path, err)) == MC_OK) {
        if (write_file(out.tmp, header, tensors, n) != 0) {
            st = mc_error_set(err, MC_ERR_IO, "%s: cannot write %s: %s", path, out.tmp, strerror(errno));
            mc_outfile_abort(&out);
        } else {
            st = mc_outfile_commit(&out, err);
        }
    }
    free(header);
    return st;
}
