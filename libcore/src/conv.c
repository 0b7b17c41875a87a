/* conv.c: 2D and 3D convolution, forward and backward, through oneDNN's C API.
 *
 * The caller's weights are plain (OIHW / GOIHW / OIDHW / GOIDHW) and its activations plain (NCHW /
 * NCDHW) or blocked (nChw16c / nCdhw16c, mc_layout), as the parameters say; oneDNN picks its own
 * layouts for each primitive (format_tag_any), on AVX-512 the same blocked one for activations, so
 * that a network keeping its activations blocked runs the primitives on its buffers directly. Per
 * shape, layouts and direction (forward, backward-data, backward-weights) an entry of a small cache
 * holds the primitive, the reorders between the caller's and the chosen layouts where they differ,
 * buffers in the chosen layouts and the primitive's scratchpad. Accumulated backward results are
 * computed into those buffers and added into the caller's gradients by a reorder with a sum
 * post-op; an overwritten input gradient is written straight into the caller's buffer.
 *
 * Threads: the engine and the stream are created once; an entry is used by one call at a time
 * (its own mutex), and the cache's list by one thread at a time (cache_lock). A shape that oneDNN
 * cannot build a primitive for runs through the reference loops of nn_ref.h instead. */
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/log.h"
#include "moecore/nn.h"
#include "moecore/nn_ref.h"

/* ---- parameters ---------------------------------------------------------------------------------- */

/* acc *= f unless that exceeds INT64_MAX / 8 (room for byte counts); returns 0 then. */
static int mul_fits(int64_t *acc, int64_t f) {
    if (f != 0 && *acc > INT64_MAX / 8 / f) return 0;
    *acc *= f;
    return 1;
}

mc_status mc_conv_params_init(mc_conv_params *p) {
    if (!p || (p->dims != 2 && p->dims != 3) || p->N < 1 || p->IC < 1 || p->OC < 1 || p->groups < 1 ||
        p->IC % p->groups != 0 || p->OC % p->groups != 0 || (p->in_layout != MC_LAYOUT_PLAIN && p->in_layout != MC_LAYOUT_BLOCKED16) ||
        (p->out_layout != MC_LAYOUT_PLAIN && p->out_layout != MC_LAYOUT_BLOCKED16))
        return MC_ERR_ARG;
    int64_t in_elems = (int64_t)p->N * p->IC, out_elems = (int64_t)p->N * p->OC;
    int64_t w_elems = (int64_t)p->OC * (p->IC / p->groups);
    for (int d = 0; d < p->dims; d++) {
        if (p->in[d] < 1 || p->k[d] < 1 || p->stride[d] < 1 || p->pad[d] < 0 || p->dil[d] < 1) return MC_ERR_ARG;
        int64_t span = (int64_t)p->dil[d] * (p->k[d] - 1) + 1;
        int64_t padded = (int64_t)p->in[d] + 2 * (int64_t)p->pad[d];
        if (padded < span) return MC_ERR_ARG;
        p->out[d] = (int)((padded - span) / p->stride[d] + 1);
        if (!mul_fits(&in_elems, p->in[d]) || !mul_fits(&out_elems, p->out[d]) || !mul_fits(&w_elems, p->k[d]))
            return MC_ERR_ARG;
    }
    for (int d = p->dims; d < 3; d++) p->out[d] = 0;
    return MC_OK;
}

/* ---- engine, stream and the cache of primitives ------------------------------------------------------ */

enum conv_dir { DIR_FWD, DIR_BWD_DATA, DIR_BWD_WEIGHTS };
enum arg_role {
    ROLE_IN,  /* read by the primitive: reordered from the caller's buffer when layouts differ */
    ROLE_OUT, /* written: reordered into the caller's buffer when layouts differ */
    ROLE_ACC  /* written into a buffer of the entry, then added into the caller's */
};

#define CACHE_CAP 128
#define MAX_ARGS 4

/* A cache key: the parameters with the unused spatial slots zeroed, the direction, whether the
 * primitive has a bias, whether its input gradient accumulates and the thread count it runs with
 * (oneDNN sizes a primitive's work and scratchpad for the count at its creation, and the count
 * follows the free cores). All ints, so it compares with memcmp. */
typedef struct conv_key {
    mc_conv_params p;
    int dir, bias, acc, threads;
} conv_key;

typedef struct conv_arg {
    int arg;                  /* DNNL_ARG_* */
    enum arg_role role;
    dnnl_memory_t user;       /* the caller's plain buffer, its handle set on each call */
    dnnl_memory_t inner;      /* a buffer in the primitive's layout; NULL when the caller's serves */
    dnnl_primitive_t reorder; /* user -> inner for ROLE_IN, inner -> user (+= for ROLE_ACC) otherwise */
} conv_arg;

typedef struct conv_entry {
    conv_key key;
    pthread_mutex_t lock;     /* held by the call running the entry */
    dnnl_primitive_t prim;    /* NULL: oneDNN could not build it, use the reference loops */
    dnnl_memory_t scratchpad; /* NULL when the primitive needs none */
    int nargs;
    conv_arg args[MAX_ARGS];
    int users;                /* calls holding the entry (guarded by cache_lock) */
    int cached;               /* whether it sits in the cache (guarded by cache_lock) */
    uint64_t last_use;        /* for eviction (guarded by cache_lock) */
} conv_entry;

static pthread_once_t dnnl_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_stream_t stream;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static conv_entry *cache[CACHE_CAP];
static int cache_len;
static uint64_t cache_clock;

static void dnnl_init(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
        engine = NULL;
        mc_log_warn("conv: oneDNN has no CPU engine; convolutions run on the reference loops");
        return;
    }
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        stream = NULL;
        mc_log_warn("conv: oneDNN has no CPU stream; convolutions run on the reference loops");
    }
}

/* Plain row-major layout tags by number of dimensions. */
static const dnnl_format_tag_t plain_tag[7] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc,
                                               dnnl_abcd, dnnl_abcde, dnnl_abcdef};

/* The dimensions oneDNN sees: activations (N, C, spatial...), weights ([G,] O, I, k...). */
typedef struct conv_dims {
    int nd, wnd;
    dnnl_dims_t src, wei, bias, dst, strides, dilates, pad;
} conv_dims;

static void dims_of(const mc_conv_params *p, conv_dims *s) {
    int g = p->groups > 1;
    s->nd = p->dims + 2;
    s->wnd = s->nd + g;
    s->src[0] = s->dst[0] = p->N;
    s->src[1] = p->IC;
    s->dst[1] = p->OC;
    s->bias[0] = p->OC;
    if (g) s->wei[0] = p->groups;
    s->wei[g] = p->OC / p->groups;
    s->wei[g + 1] = p->IC / p->groups;
    for (int d = 0; d < p->dims; d++) {
        s->src[2 + d] = p->in[d];
        s->dst[2 + d] = p->out[d];
        s->wei[g + 2 + d] = p->k[d];
        s->strides[d] = p->stride[d];
        s->dilates[d] = p->dil[d] - 1; /* oneDNN counts the gaps: 0 = none */
        s->pad[d] = p->pad[d];
    }
}

static dnnl_status_t md_init(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t dims, int any) {
    return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, any ? dnnl_format_tag_any : plain_tag[nd]);
}

/* An activation's descriptor in the caller's layout l (nd is 4 or 5). */
static dnnl_status_t act_md_init(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t dims, mc_layout l) {
    if (l != MC_LAYOUT_BLOCKED16) return md_init(md, nd, dims, 0);
    return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, nd == 4 ? dnnl_aBcd16b : dnnl_aBcde16b);
}

#define TRY(call)                                 \
    do {                                          \
        if ((st = (call)) != dnnl_success) goto done; \
    } while (0)

/* Sets up argument a of the primitive described by pd, with the caller's buffer in layout user_md. */
static dnnl_status_t arg_build(conv_arg *a, int arg, enum arg_role role, const_dnnl_primitive_desc_t pd,
                               const dnnl_memory_desc_t *user_md) {
    dnnl_status_t st;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    a->arg = arg;
    a->role = role;
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    if (!md) return dnnl_runtime_error;
    TRY(dnnl_memory_create(&a->user, user_md, engine, DNNL_MEMORY_NONE));
    if (role != ROLE_ACC && dnnl_memory_desc_equal(md, user_md)) return dnnl_success;
    TRY(dnnl_memory_create(&a->inner, md, engine, DNNL_MEMORY_ALLOCATE));
    if (role == ROLE_ACC) {
        TRY(dnnl_primitive_attr_create(&attr));
        TRY(dnnl_post_ops_create(&ops));
        TRY(dnnl_post_ops_append_sum(ops, 1.0f));
        TRY(dnnl_primitive_attr_set_post_ops(attr, ops));
    }
    if (role == ROLE_IN)
        TRY(dnnl_reorder_primitive_desc_create(&rpd, user_md, engine, md, engine, attr));
    else
        TRY(dnnl_reorder_primitive_desc_create(&rpd, md, engine, user_md, engine, attr));
    TRY(dnnl_primitive_create(&a->reorder, rpd));
done:
    dnnl_primitive_desc_destroy(rpd);
    dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Builds e's primitive, arguments and scratchpad for e->key. */
static dnnl_status_t entry_build(conv_entry *e) {
    const conv_key *k = &e->key;
    conv_dims s;
    dims_of(&k->p, &s);
    dnnl_status_t st;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
    dnnl_memory_desc_t src_any, wei_any, dst_any, src, wei, dst, bias;
    TRY(md_init(&src_any, s.nd, s.src, 1));
    TRY(md_init(&wei_any, s.wnd, s.wei, 1));
    TRY(md_init(&dst_any, s.nd, s.dst, 1));
    TRY(act_md_init(&src, s.nd, s.src, k->p.in_layout));
    TRY(md_init(&wei, s.wnd, s.wei, 0));
    TRY(act_md_init(&dst, s.nd, s.dst, k->p.out_layout));
    TRY(md_init(&bias, 1, s.bias, 0));
    TRY(dnnl_primitive_attr_create(&attr));
    TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));

    dnnl_convolution_desc_t fwd_d, bwd_d;
    TRY(dnnl_dilated_convolution_forward_desc_init(&fwd_d, dnnl_forward_training, dnnl_convolution_direct,
                                                   &src_any, &wei_any, k->bias ? &bias : NULL, &dst_any,
                                                   s.strides, s.dilates, s.pad, s.pad));
    switch (k->dir) {
    case DIR_FWD:
        TRY(dnnl_primitive_desc_create(&pd, &fwd_d, attr, engine, NULL));
        TRY(arg_build(&e->args[0], DNNL_ARG_SRC, ROLE_IN, pd, &src));
        TRY(arg_build(&e->args[1], DNNL_ARG_WEIGHTS, ROLE_IN, pd, &wei));
        TRY(arg_build(&e->args[2], DNNL_ARG_DST, ROLE_OUT, pd, &dst));
        e->nargs = 3;
        if (k->bias) TRY(arg_build(&e->args[e->nargs++], DNNL_ARG_BIAS, ROLE_IN, pd, &bias));
        break;
    case DIR_BWD_DATA:
        TRY(dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, engine, NULL));
        TRY(dnnl_dilated_convolution_backward_data_desc_init(&bwd_d, dnnl_convolution_direct, &src_any, &wei_any,
                                                             &dst_any, s.strides, s.dilates, s.pad, s.pad));
        TRY(dnnl_primitive_desc_create(&pd, &bwd_d, attr, engine, fwd_pd));
        TRY(arg_build(&e->args[0], DNNL_ARG_DIFF_DST, ROLE_IN, pd, &dst));
        TRY(arg_build(&e->args[1], DNNL_ARG_WEIGHTS, ROLE_IN, pd, &wei));
        TRY(arg_build(&e->args[2], DNNL_ARG_DIFF_SRC, k->acc ? ROLE_ACC : ROLE_OUT, pd, &src));
        e->nargs = 3;
        break;
    default:
        TRY(dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, engine, NULL));
        TRY(dnnl_dilated_convolution_backward_weights_desc_init(&bwd_d, dnnl_convolution_direct, &src_any,
                                                                &wei_any, &bias, &dst_any, s.strides, s.dilates,
                                                                s.pad, s.pad));
        TRY(dnnl_primitive_desc_create(&pd, &bwd_d, attr, engine, fwd_pd));
        TRY(arg_build(&e->args[0], DNNL_ARG_SRC, ROLE_IN, pd, &src));
        TRY(arg_build(&e->args[1], DNNL_ARG_DIFF_DST, ROLE_IN, pd, &dst));
        TRY(arg_build(&e->args[2], DNNL_ARG_DIFF_WEIGHTS, ROLE_ACC, pd, &wei));
        TRY(arg_build(&e->args[3], DNNL_ARG_DIFF_BIAS, ROLE_ACC, pd, &bias));
        e->nargs = 4;
        break;
    }
    const dnnl_memory_desc_t *scratch_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (scratch_md && dnnl_memory_desc_get_size(scratch_md) > 0)
        TRY(dnnl_memory_create(&e->scratchpad, scratch_md, engine, DNNL_MEMORY_ALLOCATE));
    TRY(dnnl_primitive_create(&e->prim, pd));
done:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_desc_destroy(fwd_pd);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Releases every oneDNN object of e (the destroy functions accept NULL). */
static void entry_clear(conv_entry *e) {
    for (int i = 0; i < MAX_ARGS; i++) {
        dnnl_primitive_destroy(e->args[i].reorder);
        dnnl_memory_destroy(e->args[i].inner);
        dnnl_memory_destroy(e->args[i].user);
    }
    memset(e->args, 0, sizeof e->args);
    e->nargs = 0;
    dnnl_memory_destroy(e->scratchpad);
    dnnl_primitive_destroy(e->prim);
    e->scratchpad = NULL;
    e->prim = NULL;
}

static void entry_destroy(conv_entry *e) {
    entry_clear(e);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

static const char *const dir_name[] = {"forward", "backward-data", "backward-weights"};

/* A new entry for k; its prim is NULL when oneDNN could not build it. NULL when out of memory. */
static conv_entry *entry_create(const conv_key *k) {
    conv_entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->key = *k;
    if (pthread_mutex_init(&e->lock, NULL) != 0) {
        free(e);
        return NULL;
    }
    dnnl_status_t st = entry_build(e);
    if (st != dnnl_success) {
        entry_clear(e);
        const mc_conv_params *p = &k->p;
        mc_log_warn("conv: oneDNN could not build the %dD %s primitive (N %d, IC %d, OC %d, groups %d; "
                    "status %d); this shape runs on the reference loops",
                    p->dims, dir_name[k->dir], p->N, p->IC, p->OC, p->groups, (int)st);
    }
    return e;
}

static void key_of(conv_key *k, const mc_conv_params *p, enum conv_dir dir, int bias, int acc) {
    memset(k, 0, sizeof *k);
    k->p.dims = p->dims;
    k->p.N = p->N;
    k->p.IC = p->IC;
    k->p.OC = p->OC;
    k->p.groups = p->groups;
    for (int d = 0; d < p->dims; d++) {
        k->p.in[d] = p->in[d];
        k->p.k[d] = p->k[d];
        k->p.stride[d] = p->stride[d];
        k->p.pad[d] = p->pad[d];
        k->p.dil[d] = p->dil[d];
        k->p.out[d] = p->out[d];
    }
    k->p.in_layout = p->in_layout;
    k->p.out_layout = p->out_layout;
    k->dir = dir;
    k->bias = bias;
    k->acc = acc;
    k->threads = omp_get_max_threads();
}

/* The entry for k, created on first use, locked for the caller; NULL when oneDNN is unusable or
 * memory ran out. When the cache is full, the least recently used idle entry makes room; when
 * none is idle the new entry serves this call only. */
static conv_entry *entry_acquire(const conv_key *k) {
    pthread_once(&dnnl_once, dnnl_init);
    if (!engine || !stream) return NULL;
    pthread_mutex_lock(&cache_lock);
    conv_entry *e = NULL;
    for (int i = 0; i < cache_len && !e; i++)
        if (memcmp(&cache[i]->key, k, sizeof *k) == 0) e = cache[i];
    if (!e && (e = entry_create(k)) != NULL) {
        int slot = -1;
        if (cache_len < CACHE_CAP) {
            slot = cache_len++;
        } else {
            for (int i = 0; i < CACHE_CAP; i++)
                if (cache[i]->users == 0 && (slot < 0 || cache[i]->last_use < cache[slot]->last_use)) slot = i;
            if (slot >= 0) entry_destroy(cache[slot]);
        }
        if (slot >= 0) {
            cache[slot] = e;
            e->cached = 1;
        }
    }
    if (e) {
        e->users++;
        e->last_use = ++cache_clock;
    }
    pthread_mutex_unlock(&cache_lock);
    if (e) pthread_mutex_lock(&e->lock);
    return e;
}

static void entry_release(conv_entry *e) {
    pthread_mutex_unlock(&e->lock);
    pthread_mutex_lock(&cache_lock);
    int drop = --e->users == 0 && !e->cached;
    pthread_mutex_unlock(&cache_lock);
    if (drop) entry_destroy(e);
}

static dnnl_status_t reorder_run(const conv_arg *a, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t io[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(a->reorder, stream, 2, io);
}

/* Runs e with the caller's buffers ptr[i] for e->args[i] (NULL for an output not wanted). Returns
 * an error only when the caller's outputs are still untouched. */
static dnnl_status_t entry_run(conv_entry *e, void *const ptr[]) {
    dnnl_status_t st;
    dnnl_exec_arg_t xa[MAX_ARGS + 1];
    int n = 0;
    for (int i = 0; i < e->nargs; i++) {
        conv_arg *a = &e->args[i];
        if ((st = dnnl_memory_set_data_handle(a->user, ptr[i])) != dnnl_success) return st;
        if (a->role == ROLE_IN && a->reorder && (st = reorder_run(a, a->user, a->inner)) != dnnl_success) return st;
        xa[n].arg = a->arg;
        xa[n++].memory = a->inner ? a->inner : a->user;
    }
    if (e->scratchpad) {
        xa[n].arg = DNNL_ARG_SCRATCHPAD;
        xa[n++].memory = e->scratchpad;
    }
    if ((st = dnnl_primitive_execute(e->prim, stream, n, xa)) != dnnl_success) return st;
    if ((st = dnnl_stream_wait(stream)) != dnnl_success) return st;
    for (int i = 0; i < e->nargs; i++) {
        conv_arg *a = &e->args[i];
        if (a->role == ROLE_IN || !a->reorder || !ptr[i]) continue;
        if (reorder_run(a, a->inner, a->user) != dnnl_success)
            mc_log_error("conv: a oneDNN reorder failed after the convolution ran; results are incomplete");
    }
    dnnl_stream_wait(stream);
    return dnnl_success;
}

/* Runs the primitive for (p, dir, bias, acc) on ptr; returns 0 when the caller must use the reference. */
static int conv_run(const mc_conv_params *p, enum conv_dir dir, int bias, int acc, void *const ptr[]) {
    conv_key k;
    key_of(&k, p, dir, bias, acc);
    conv_entry *e = entry_acquire(&k);
    if (!e) return 0;
    int ok = e->prim && entry_run(e, ptr) == dnnl_success;
    entry_release(e);
    return ok;
}

/* ---- the reference fallback ------------------------------------------------------------------------- */

static int64_t spatial(int dims, const int *sz) {
    int64_t n = 1;
    for (int d = 0; d < dims; d++) n *= sz[d];
    return n;
}

/* A plain buffer for an activation x (N, C, S) in layout l: x itself when plain, else a converted
 * copy (or zeros when x is NULL) that the caller frees. NULL when out of memory. */
static float *plain_of(const float *x, mc_layout l, int N, int C, int64_t S, int *owned) {
    *owned = l == MC_LAYOUT_BLOCKED16;
    if (!*owned) return (float *)x;
    float *t = calloc((size_t)((int64_t)N * C * S), sizeof *t);
    if (t && x) mc_layout_to_plain(t, x, N, C, S);
    return t;
}

/* The reference loops for a shape oneDNN cannot run, on plain copies of blocked activations:
 * forward when out is given, else backward (din overwritten unless acc). */
static void conv_ref(float *out, float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const float *b, const mc_conv_params *p, int acc) {
    int64_t Si = spatial(p->dims, p->in), So = spatial(p->dims, p->out);
    int own_in = 0, own_out = 0, own_dout = 0, own_din = 0;
    float *pin = NULL, *pout = NULL, *pdout = NULL, *pdin = NULL;
    if (out || dw || db) pin = plain_of(in, p->in_layout, p->N, p->IC, Si, &own_in);
    if (out) pout = plain_of(NULL, p->out_layout, p->N, p->OC, So, &own_out);
    if (!out) pdout = plain_of(dout, p->out_layout, p->N, p->OC, So, &own_dout);
    if (din) pdin = plain_of(acc ? din : NULL, p->in_layout, p->N, p->IC, Si, &own_din);
    if (((out || dw || db) && !pin) || (out && !pout) || (!out && !pdout) || (din && !pdin)) {
        mc_log_error("conv: out of memory for the reference convolution; results are incomplete");
    } else if (out) {
        mc_conv_ref_forward(pout, pin, w, b, p);
        if (own_out) mc_layout_to_blocked(out, pout, p->N, p->OC, So);
    } else {
        if (din && !acc && !own_din) memset(din, 0, (size_t)((int64_t)p->N * p->IC * Si) * sizeof *din);
        mc_conv_ref_backward(pdin, dw, db, pdout, pin, w, p);
        if (din && own_din) mc_layout_to_blocked(din, pdin, p->N, p->IC, Si);
    }
    if (own_in) free(pin);
    if (own_out) free(pout);
    if (own_dout) free(pdout);
    if (own_din) free(pdin);
}

/* ---- the layer ------------------------------------------------------------------------------------ */

void mc_conv_forward(float *out, const float *in, const float *w, const float *b, const mc_conv_params *p) {
    void *ptr[MAX_ARGS] = {(void *)in, (void *)w, out, (void *)b};
    if (!conv_run(p, DIR_FWD, b != NULL, 0, ptr)) conv_ref(out, NULL, NULL, NULL, NULL, in, w, b, p, 0);
}

/* din (+)= dL/din when din is given, dw += dL/dw, db += dL/db. */
static void conv_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                          const mc_conv_params *p, int acc) {
    if (din) {
        void *ptr[MAX_ARGS] = {(void *)dout, (void *)w, din, NULL};
        if (!conv_run(p, DIR_BWD_DATA, 0, acc, ptr)) conv_ref(NULL, din, NULL, NULL, dout, in, w, NULL, p, acc);
    }
    if (dw || db) {
        void *ptr[MAX_ARGS] = {(void *)in, (void *)dout, dw, db};
        if (!conv_run(p, DIR_BWD_WEIGHTS, 1, 1, ptr)) conv_ref(NULL, NULL, dw, db, dout, in, w, NULL, p, 1);
    }
}

void mc_conv_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                      const mc_conv_params *p) {
    conv_backward(din, dw, db, dout, in, w, p, 1);
}

void mc_conv_backward_data_set(float *din, const float *dout, const float *w, const mc_conv_params *p) {
    conv_backward(din, NULL, NULL, dout, NULL, w, p, 0);
}
