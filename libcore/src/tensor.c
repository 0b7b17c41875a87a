/* tensor.c: tensor views and the block arenas that own tensor memory. CUDA arenas take their
 * blocks from the CUDA backend (cuda/memory.cu). */
#include "moecore/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/config.h"

#if MC_HAVE_CUDA
/* cuda/memory.cu */
void *mc_cuda_block_alloc(size_t bytes);
int mc_cuda_block_zero(void *p, size_t bytes);
void mc_cuda_block_free(void *p);
#endif

mc_tensor mc_tensor_view(void *data, mc_dtype dtype, int ndim, const int64_t *shape) {
    mc_tensor t = {.dtype = dtype, .device = MC_DEVICE_CPU, .ndim = ndim, .data = data};
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = s;
        s *= shape[i];
    }
    return t;
}

int64_t mc_tensor_numel(const mc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t mc_tensor_nbytes(const mc_tensor *t) { return (size_t)mc_tensor_numel(t) * mc_dtype_size(t->dtype); }

int mc_tensor_is_contiguous(const mc_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

int mc_tensor_same_shape(const mc_tensor *a, const mc_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

void mc_tensor_shape_str(const mc_tensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

typedef struct block {
    struct block *next;
    size_t size;
    size_t used;
    unsigned char *mem;
} block;

struct mc_arena {
    mc_device_kind device;
    size_t block_bytes;
    block *first;   /* blocks in order of creation */
    block *last;
    block *cur;     /* the block being filled; those before it are full until the next reset */
    size_t total;   /* bytes handed out */
};

/* Block memory on the arena's device: aligned host memory, or device memory from cudaMalloc
 * (aligned to 256 bytes). */
static void *block_mem_alloc(mc_device_kind device, size_t size) {
#if MC_HAVE_CUDA
    if (device == MC_DEVICE_CUDA) return mc_cuda_block_alloc(size);
#endif
    (void)device;
    return aligned_alloc(MC_ALIGN, size);
}

static int block_mem_zero(mc_device_kind device, void *p, size_t bytes) {
#if MC_HAVE_CUDA
    if (device == MC_DEVICE_CUDA) return mc_cuda_block_zero(p, bytes);
#endif
    (void)device;
    memset(p, 0, bytes);
    return 0;
}

static void block_mem_free(mc_device_kind device, void *p) {
#if MC_HAVE_CUDA
    if (device == MC_DEVICE_CUDA) {
        mc_cuda_block_free(p);
        return;
    }
#endif
    (void)device;
    free(p);
}

mc_arena *mc_arena_create(mc_device_kind device, size_t block_bytes) {
#if MC_HAVE_CUDA
    if (device != MC_DEVICE_CPU && (device != MC_DEVICE_CUDA || mc_cuda_device_count() == 0)) return NULL;
#else
    if (device != MC_DEVICE_CPU) return NULL;
#endif
    mc_arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->device = device;
    a->block_bytes = block_bytes < (1u << 16) ? (1u << 16) : block_bytes;
    return a;
}

void *mc_arena_alloc(mc_arena *a, size_t bytes) {
    if (!a || bytes > SIZE_MAX - MC_ALIGN) return NULL;
    size_t need = bytes == 0 ? MC_ALIGN : (bytes + MC_ALIGN - 1) / MC_ALIGN * MC_ALIGN;
    while (a->cur && a->cur->size - a->cur->used < need) a->cur = a->cur->next;
    if (!a->cur) {
        block *b = calloc(1, sizeof *b);
        size_t size = need > a->block_bytes ? need : a->block_bytes;
        if (!b || !(b->mem = block_mem_alloc(a->device, size))) {
            free(b);
            return NULL;
        }
        b->size = size;
        if (a->last)
            a->last->next = b;
        else
            a->first = b;
        a->last = b;
        a->cur = b;
    }
    void *p = a->cur->mem + a->cur->used;
    a->cur->used += need;
    a->total += need;
    if (block_mem_zero(a->device, p, bytes) != 0) {
        a->cur->used -= need;
        a->total -= need;
        return NULL;
    }
    return p;
}

mc_status mc_arena_tensor(mc_arena *a, mc_tensor *out, mc_dtype dtype, int ndim, const int64_t *shape) {
    if (!a || !out || ndim < 0 || ndim > MC_MAX_DIMS || (ndim > 0 && !shape) || mc_dtype_size(dtype) == 0)
        return MC_ERR_ARG;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > SIZE_MAX / 16 / (size_t)shape[i])) return MC_ERR_ARG;
        n *= (size_t)shape[i];
    }
    void *p = mc_arena_alloc(a, n * mc_dtype_size(dtype));
    if (!p) return MC_ERR_NOMEM;
    *out = mc_tensor_view(p, dtype, ndim, shape);
    out->device = a->device;
    return MC_OK;
}

size_t mc_arena_used(const mc_arena *a) { return a ? a->total : 0; }

void mc_arena_reset(mc_arena *a) {
    if (!a) return;
    for (block *b = a->first; b; b = b->next) b->used = 0;
    a->cur = a->first;
    a->total = 0;
}

void mc_arena_destroy(mc_arena *a) {
    if (!a) return;
    block *b = a->first;
    while (b) {
        block *next = b->next;
        block_mem_free(a->device, b->mem);
        free(b);
        b = next;
    }
    free(a);
}
