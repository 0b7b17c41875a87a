/* cuda/moe.cu: the Mixture-of-Experts layer on the device, mirroring moe.c step for step:
 * router scores and top-k (one thread a token), the counting sort of (token, expert) pairs by
 * expert with the capacity limit in token order (per-chunk counts, a scan, then ranks within each
 * chunk: the same order as the CPU's serial pass), gather into expert order, the experts' MLPs as
 * grouped GEMMs over their contiguous blocks, the weighted combine in the CPU's order, the balance
 * statistics, and the backward passes of all of it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../moe_gate_grad.h"
#include "context.h"
#include "moecore/moe_cuda.h"

#define CHUNK 256 /* pairs per block of the counting sort; equals MC_CUDA_THREADS */

/* Device arrays of one training forward and its backward, for up to cap_T tokens. */
typedef struct moe_dev {
    int cap_T;
    float *logits, *scores, *noise; /* (T, E) */
    float *lse;                     /* (T) */
    int32_t *topk;                  /* (T, k) */
    float *gates, *dgates;          /* (T, k) */
    int32_t *pos, *perm, *row_expert; /* (P) */
    int32_t *chunk_count, *chunk_base; /* (P / CHUNK + 1, E) */
    int32_t *sort;                  /* count (E), kept (E), offset (E + 1) */
    float *xe, *ye, *dye, *dxe;     /* (P, D) */
    float *pre, *hid;               /* (P, F) */
    float *spre, *shid;             /* (S, T, Fs) */
    float *stmp;                    /* (T, D) */
    float *dh, *dpre;               /* (max(P, T), max(F, Fs)) */
    float *dscores, *dlogits;       /* (T, E) */
    double *score_sums;             /* (E) */
    float *aux_grad;                /* (E) */
    float *bias;                    /* (E) */
} moe_dev;

struct mc_moe_cuda {
    mc_cuda_ctx *c;
    mc_moe_config cfg;
    int Fs;
    mc_moe_weights w, g;
    int have_grads;
    void *dev_mem;
    moe_dev d;
    /* host */
    float *bias;          /* (E) mirror of d.bias */
    int32_t *sort;        /* (3E + 1) copy of d.sort */
    int64_t *count;       /* (E) */
    float *noise;         /* (cap_T, E) */
    float *lse;           /* (cap_T) */
    double *score_sums;   /* (E) */
    float *aux_grad;      /* (E) */
    mc_cuda_gemm_group *groups; /* (E) */
    mc_moe_stats stats;
    int last_T, have_forward;
    const float *x;
};

/* ---- kernels ---------------------------------------------------------------------------------------- */

#define GRID_STRIDE(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

/* One thread a token: scores, selection (scores + bias + noise), top-k with ties to the lower
 * expert, gates, and the logsumexp for the z-loss. */
__global__ void router_kernel(float *scores, int32_t *topk, float *gates, float *lse, const float *logits,
                              const float *bias, const float *noise, int T, int E, int k, int softmax, int norm_topk) {
    GRID_STRIDE(t, T) {
        const float *l = logits + t * E;
        float *s = scores + t * E;
        float mx = l[0];
        for (int e = 1; e < E; e++) mx = l[e] > mx ? l[e] : mx;
        if (softmax) {
            double sum = 0.0;
            for (int e = 0; e < E; e++) {
                s[e] = expf(l[e] - mx);
                sum += s[e];
            }
            double inv = 1.0 / sum;
            for (int e = 0; e < E; e++) s[e] = (float)(s[e] * inv);
        } else {
            for (int e = 0; e < E; e++) s[e] = 1.0f / (1.0f + expf(-l[e]));
        }
        if (lse) {
            double z = 0.0;
            for (int e = 0; e < E; e++) z += exp((double)l[e] - mx);
            lse[t] = (float)(mx + log(z));
        }
        int32_t *idx = topk + t * k;
        for (int j = 0; j < k; j++) {
            int best = -1;
            float best_sel = 0.0f;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int i = 0; i < j; i++) taken |= idx[i] == e;
                if (taken) continue;
                float sel = s[e] + (bias ? bias[e] : 0.0f);
                if (noise) sel += noise[t * E + e];
                if (best < 0 || sel > best_sel) {
                    best = e;
                    best_sel = sel;
                }
            }
            idx[j] = best;
        }
        float sum = 0.0f;
        for (int j = 0; j < k; j++) sum += s[idx[j]];
        for (int j = 0; j < k; j++) gates[t * k + j] = norm_topk ? s[idx[j]] / (sum > 0 ? sum : 1e-20f) : s[idx[j]];
    }
}

/* Block b counts the pairs of its chunk per expert. */
__global__ void count_chunks_kernel(int32_t *chunk_count, const int32_t *topk, int64_t P, int E) {
    __shared__ int32_t ex[CHUNK];
    int64_t p = (int64_t)blockIdx.x * CHUNK + threadIdx.x;
    ex[threadIdx.x] = p < P ? topk[p] : -1;
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int n = 0;
        for (int i = 0; i < CHUNK; i++) n += ex[i] == e;
        chunk_count[(int64_t)blockIdx.x * E + e] = n;
    }
}

/* One block: each expert's running count over the chunks (the base of each chunk), its total,
 * then the kept counts under the capacity and the first row of each expert. */
__global__ void scan_chunks_kernel(int32_t *chunk_base, int32_t *sort, const int32_t *chunk_count, int chunks, int E,
                                   int64_t cap) {
    int32_t *count = sort, *kept = sort + E, *offset = sort + 2 * E;
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int32_t run = 0;
        for (int b = 0; b < chunks; b++) {
            chunk_base[(int64_t)b * E + e] = run;
            run += chunk_count[(int64_t)b * E + e];
        }
        count[e] = run;
        kept[e] = run < cap ? run : (int32_t)cap;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        offset[0] = 0;
        for (int e = 0; e < E; e++) offset[e + 1] = offset[e] + kept[e];
    }
}

/* Each pair's rank among the earlier pairs of its expert gives its row, or -1 past the capacity. */
__global__ void place_pairs_kernel(int32_t *pos, int32_t *perm, int32_t *row_expert, const int32_t *topk,
                                   const int32_t *chunk_base, const int32_t *sort, int64_t P, int E, int64_t cap) {
    __shared__ int32_t ex[CHUNK];
    int64_t p = (int64_t)blockIdx.x * CHUNK + threadIdx.x;
    ex[threadIdx.x] = p < P ? topk[p] : -1;
    __syncthreads();
    if (p >= P) return;
    int e = ex[threadIdx.x];
    int64_t rank = chunk_base[(int64_t)blockIdx.x * E + e];
    for (int i = 0; i < (int)threadIdx.x; i++) rank += ex[i] == e;
    if (rank < cap) {
        int32_t r = sort[2 * E + e] + (int32_t)rank;
        pos[p] = r;
        perm[r] = (int32_t)p;
        row_expert[r] = e;
    } else {
        pos[p] = -1;
    }
}

/* xe (R, D) rows = x rows of their tokens */
__global__ void gather_kernel(float *xe, const float *x, const int32_t *perm, int64_t R, int D, int k) {
    GRID_STRIDE(i, R * D) {
        int64_t r = i / D;
        xe[i] = x[(int64_t)(perm[r] / k) * D + i % D];
    }
}

/* out (R, W) rows = the bias (W) of each row's expert */
__global__ void expert_bias_kernel(float *out, const float *bias, const int32_t *row_expert, int64_t R, int W) {
    GRID_STRIDE(i, R * W) out[i] = bias[(int64_t)row_expert[i / W] * W + i % W];
}

__global__ void add_kernel(float *out, const float *v, int64_t n) {
    GRID_STRIDE(i, n) out[i] += v[i];
}

/* out (T, D) += sum over the token's kept pairs, in order, of gate * ye */
__global__ void combine_kernel(float *out, const float *ye, const float *gates, const int32_t *pos, int T, int D, int k) {
    GRID_STRIDE(i, (int64_t)T * D) {
        int64_t t = i / D, d = i % D;
        float o = out[i];
        for (int j = 0; j < k; j++) {
            int32_t r = pos[t * k + j];
            if (r >= 0) o += gates[t * k + j] * ye[(int64_t)r * D + d];
        }
        out[i] = o;
    }
}

/* score_sums (E) = sums over tokens of scores (T, E), in token order */
__global__ void score_sums_kernel(double *sums, const float *scores, int T, int E) {
    GRID_STRIDE(e, E) {
        double s = 0.0;
        for (int t = 0; t < T; t++) s += scores[(int64_t)t * E + e];
        sums[e] = s;
    }
}

/* One warp a pair: dye = gate * dout[t]; dgate = <dout[t], ye> (0 for a dropped pair). */
__global__ void pair_backward_kernel(float *dye, float *dgates, const float *dout, const float *ye, const float *gates,
                                     const int32_t *pos, int64_t P, int D, int k) {
    const int lane = threadIdx.x % 32;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t p = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32; p < P; p += warps) {
        int32_t r = pos[p];
        if (r < 0) {
            if (lane == 0) dgates[p] = 0.0f;
            continue;
        }
        const float *go = dout + (p / k) * D, *y = ye + (int64_t)r * D;
        float *dy = dye + (int64_t)r * D, g = gates[p], dg = 0.0f;
        for (int d = lane; d < D; d += 32) {
            dy[d] = g * go[d];
            dg += go[d] * y[d];
        }
        for (int off = 16; off > 0; off /= 2) dg += __shfl_down_sync(0xffffffffu, dg, off);
        if (lane == 0) dgates[p] = dg;
    }
}

/* db (E, W) += column sums of each expert's block of v (R, W), rows in order */
__global__ void expert_column_sums_kernel(float *db, const float *v, const int32_t *offset, int E, int W) {
    GRID_STRIDE(i, (int64_t)E * W) {
        int64_t e = i / W, w = i % W;
        float s = db[i];
        for (int32_t r = offset[e]; r < offset[e + 1]; r++) s += v[(int64_t)r * W + w];
        db[i] = s;
    }
}

/* dx (T, D) += the rows of dxe of each token's kept pairs */
__global__ void scatter_dx_kernel(float *dx, const float *dxe, const int32_t *pos, int T, int D, int k) {
    GRID_STRIDE(i, (int64_t)T * D) {
        int64_t t = i / D, d = i % D;
        float s = dx[i];
        for (int j = 0; j < k; j++) {
            int32_t r = pos[t * k + j];
            if (r >= 0) s += dxe[(int64_t)r * D + d];
        }
        dx[i] = s;
    }
}

/* One thread a token: dscores (zeroed) += the gradient through the gate renormalisation, plus the
 * auxiliary loss's aux_grad (E) when given. */
__global__ void dscores_kernel(float *ds, const float *dgates, const float *scores, const int32_t *topk,
                               const float *aux_grad, int T, int E, int k, int norm_topk) {
    GRID_STRIDE(t, T) {
        float *dst = ds + t * E;
        moe_gate_grad(dst, dgates + t * k, scores + t * E, topk + t * k, k, norm_topk);
        if (aux_grad)
            for (int e = 0; e < E; e++) dst[e] += aux_grad[e];
    }
}

/* dlogits (T, E) += 2 z lse_t softmax(logits_t) / T */
__global__ void zloss_backward_kernel(float *dl, const float *logits, const float *lse, int T, int E, float z_coef) {
    GRID_STRIDE(i, (int64_t)T * E) {
        int64_t t = i / E;
        float scale = 2.0f * z_coef * lse[t] / (float)T;
        dl[i] += scale * expf(logits[i] - lse[t]);
    }
}

/* ---- the layer ---------------------------------------------------------------------------------------- */

#define LAUNCH(kernel, n, ...)                                                               \
    do {                                                                                     \
        kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(__VA_ARGS__);           \
        MC_CU_LAUNCHED(c, kernel);                                                           \
    } while (0)

#define TRY(call)                          \
    do {                                   \
        mc_status st_ = (call);            \
        if (st_ != MC_OK) return st_;      \
    } while (0)

static int shared_ff(const mc_moe_config *c) { return c->d_ff_shared > 0 ? c->d_ff_shared : c->d_ff; }

/* Makes the device and host workspaces hold T tokens. */
static mc_status ensure_work(mc_moe_cuda *m, int T) {
    if (T <= m->d.cap_T) return MC_OK;
    mc_cuda_ctx *c = m->c;
    const mc_moe_config *cf = &m->cfg;
    size_t E = (size_t)cf->n_experts, k = (size_t)cf->top_k, D = (size_t)cf->d_model, F = (size_t)cf->d_ff;
    size_t S = (size_t)cf->n_shared, Fs = (size_t)m->Fs, t = (size_t)T, P = t * k, chunks = P / CHUNK + 1;
    size_t Fmax = F > Fs ? F : Fs, Rmax = P > t ? P : t;
    moe_dev d = m->d;
    struct {
        void **p;
        size_t bytes;
    } parts[] = {
        {(void **)&d.logits, t * E * 4},      {(void **)&d.scores, t * E * 4},       {(void **)&d.noise, t * E * 4},
        {(void **)&d.lse, t * 4},             {(void **)&d.topk, P * 4},             {(void **)&d.gates, P * 4},
        {(void **)&d.dgates, P * 4},          {(void **)&d.pos, P * 4},              {(void **)&d.perm, P * 4},
        {(void **)&d.row_expert, P * 4},      {(void **)&d.chunk_count, chunks * E * 4}, {(void **)&d.chunk_base, chunks * E * 4},
        {(void **)&d.sort, (3 * E + 1) * 4},  {(void **)&d.xe, P * D * 4},           {(void **)&d.ye, P * D * 4},
        {(void **)&d.dye, P * D * 4},         {(void **)&d.dxe, P * D * 4},          {(void **)&d.pre, P * F * 4},
        {(void **)&d.hid, P * F * 4},         {(void **)&d.spre, S * t * Fs * 4},    {(void **)&d.shid, S * t * Fs * 4},
        {(void **)&d.stmp, t * D * 4},        {(void **)&d.dh, Rmax * Fmax * 4},     {(void **)&d.dpre, Rmax * Fmax * 4},
        {(void **)&d.dscores, t * E * 4},     {(void **)&d.dlogits, t * E * 4},      {(void **)&d.score_sums, E * 8},
        {(void **)&d.aux_grad, E * 4},
    };
    size_t n = sizeof parts / sizeof parts[0], total = 0;
    for (size_t i = 0; i < n; i++) total += (parts[i].bytes + 255) / 256 * 256;
    float *noise = (float *)realloc(m->noise, t * E * sizeof(float));
    if (noise) m->noise = noise;
    float *lse = (float *)realloc(m->lse, t * sizeof(float));
    if (lse) m->lse = lse;
    if (!noise || !lse) return mc_error_set(&c->err, MC_ERR_NOMEM, "moe: out of host memory for %d tokens", T);
    void *mem = NULL;
    MC_CU(c, cudaStreamSynchronize(c->stream));
    MC_CU(c, cudaMalloc(&mem, total));
    cudaFree(m->dev_mem);
    m->dev_mem = mem;
    char *p = (char *)mem;
    for (size_t i = 0; i < n; i++) {
        *parts[i].p = p;
        p += (parts[i].bytes + 255) / 256 * 256;
    }
    d.cap_T = T;
    m->d = d;
    return MC_OK;
}

extern "C" mc_status mc_moe_cuda_create(mc_moe_cuda **out, mc_cuda_ctx *c, const mc_moe_config *cfg, float *params,
                                        float *grads, mc_error *err) {
    if (!out || !c || !params) return mc_error_set(err, MC_ERR_ARG, "moe (cuda): no context or parameters");
    *out = NULL;
    mc_status st = mc_moe_config_check(cfg, err);
    if (st != MC_OK) return st;
    mc_moe_cuda *m = (mc_moe_cuda *)calloc(1, sizeof *m);
    size_t E = (size_t)cfg->n_experts;
    if (!m || !(m->bias = (float *)calloc(E, sizeof(float))) || !(m->sort = (int32_t *)calloc(3 * E + 1, sizeof(int32_t))) ||
        !(m->count = (int64_t *)calloc(E, sizeof(int64_t))) || !(m->score_sums = (double *)calloc(E, sizeof(double))) ||
        !(m->aux_grad = (float *)calloc(E, sizeof(float))) ||
        !(m->groups = (mc_cuda_gemm_group *)calloc(E, sizeof(mc_cuda_gemm_group)))) {
        mc_moe_cuda_destroy(m);
        return mc_error_set(err, MC_ERR_NOMEM, "moe (cuda): out of host memory");
    }
    m->c = c;
    m->cfg = *cfg;
    m->Fs = shared_ff(cfg);
    m->w = mc_moe_weights_at(cfg, params);
    m->have_grads = grads != NULL;
    if (grads) m->g = mc_moe_weights_at(cfg, grads);
    m->stats.load = m->count;
    st = mc_cuda_malloc(c, (void **)&m->d.bias, E * sizeof(float));
    if (st == MC_OK) st = mc_cuda_memset(c, m->d.bias, 0, E * sizeof(float));
    if (st == MC_OK) st = ensure_work(m, 1);
    if (st != MC_OK) {
        if (err) *err = c->err;
        mc_moe_cuda_destroy(m);
        return st;
    }
    *out = m;
    return MC_OK;
}

extern "C" void mc_moe_cuda_destroy(mc_moe_cuda *m) {
    if (!m) return;
    if (m->c) cudaStreamSynchronize(m->c->stream);
    cudaFree(m->dev_mem);
    cudaFree(m->d.bias);
    free(m->bias);
    free(m->sort);
    free(m->count);
    free(m->noise);
    free(m->lse);
    free(m->score_sums);
    free(m->aux_grad);
    free(m->groups);
    free(m);
}

extern "C" const mc_moe_stats *mc_moe_cuda_get_stats(const mc_moe_cuda *m) { return &m->stats; }

/* An operand of the experts' GEMMs: either each expert's block of rows of one matrix (base +
 * first row of the expert * per_row) or each expert's own matrix (base + e * per_expert). */
typedef struct block_operand {
    const float *base;
    int64_t per_row;
    int64_t per_expert;
} block_operand;

static const float *operand_at(block_operand o, int e, int64_t row) {
    return o.base + (o.per_row ? row * o.per_row : (int64_t)e * o.per_expert);
}

/* One GEMM per expert as a grouped GEMM, with n_e the expert's kept rows: (M, N, K) = (n_e, d1, d2)
 * when the rows are M (forward, data gradients), (d1, d2, n_e) when they are the summed K (weight
 * gradients). */
static mc_status experts_gemm(mc_moe_cuda *m, int ta, int tb, int rows_are_k, int d1, int d2, block_operand A,
                              block_operand B, block_operand C, float beta) {
    const int E = m->cfg.n_experts;
    const int32_t *kept = m->sort + E, *offset = m->sort + 2 * E;
    for (int e = 0; e < E; e++) {
        mc_cuda_gemm_group *g = &m->groups[e];
        int n = kept[e];
        g->M = rows_are_k ? d1 : n;
        g->N = rows_are_k ? d2 : d1;
        g->K = rows_are_k ? n : d2;
        g->A = operand_at(A, e, offset[e]);
        g->B = operand_at(B, e, offset[e]);
        g->C = (float *)operand_at(C, e, offset[e]);
    }
    return mc_cuda_gemm_grouped(m->c, ta, tb, E, m->groups, beta);
}

static block_operand rows(const float *base, int64_t width) { return block_operand{base, width, 0}; }
static block_operand per_expert(const float *base, int64_t size) { return block_operand{base, 0, size}; }

extern "C" mc_status mc_moe_cuda_forward(mc_moe_cuda *m, float *out, const float *x, int T, int train, mc_rng *rng) {
    if (!m) return MC_ERR_ARG;
    mc_cuda_ctx *c = m->c;
    MC_CU_ARG(c, T >= 0 && out && x, "bad arguments");
    TRY(ensure_work(m, T > 0 ? T : 1));
    const mc_moe_config *cf = &m->cfg;
    moe_dev *d = &m->d;
    const int E = cf->n_experts, k = cf->top_k, D = cf->d_model, F = cf->d_ff, S = cf->n_shared, Fs = m->Fs;
    const int64_t P = (int64_t)T * k;
    memset(m->count, 0, (size_t)E * sizeof *m->count);
    memset(m->sort, 0, (3 * (size_t)E + 1) * sizeof *m->sort);
    m->stats = mc_moe_stats{T, m->count, 0, 0.0, 0.0, 0.0};
    m->last_T = T;
    m->have_forward = train;
    m->x = x;
    if (T == 0) return MC_OK;

    /* router, in FP32 */
    TRY(mc_cuda_gemm_math(c, MC_CUDA_MATH_FP32, 0, 1, T, E, D, 1.0f, x, D, m->w.w_router, D, 0.0f, d->logits, E));
    const float *noise = NULL;
    if (train && cf->noise_std > 0 && rng) {
        for (int64_t i = 0; i < (int64_t)T * E; i++) m->noise[i] = cf->noise_std * (float)mc_rng_normal(rng);
        TRY(mc_cuda_to_device(c, d->noise, m->noise, (size_t)T * E * sizeof(float)));
        noise = d->noise;
    }
    LAUNCH(router_kernel, T, d->scores, d->topk, d->gates, cf->z_coef > 0 ? d->lse : NULL, d->logits,
           cf->balance == MC_BALANCE_BIAS ? d->bias : NULL, noise, T, E, k, cf->score == MC_ROUTER_SOFTMAX, cf->norm_topk);

    /* counting sort by expert with the capacity in token order */
    const int chunks = (int)((P + CHUNK - 1) / CHUNK);
    const int64_t cap = cf->capacity_factor > 0 ? (int64_t)ceil((double)cf->capacity_factor * (double)P / E) : P;
    count_chunks_kernel<<<chunks, CHUNK, 0, c->stream>>>(d->chunk_count, d->topk, P, E);
    MC_CU_LAUNCHED(c, count_chunks_kernel);
    scan_chunks_kernel<<<1, MC_CUDA_THREADS, 0, c->stream>>>(d->chunk_base, d->sort, d->chunk_count, chunks, E, cap);
    MC_CU_LAUNCHED(c, scan_chunks_kernel);
    place_pairs_kernel<<<chunks, CHUNK, 0, c->stream>>>(d->pos, d->perm, d->row_expert, d->topk, d->chunk_base, d->sort,
                                                        P, E, cap);
    MC_CU_LAUNCHED(c, place_pairs_kernel);
    TRY(mc_cuda_to_host(c, m->sort, d->sort, (3 * (size_t)E + 1) * sizeof(int32_t)));
    const int64_t R = m->sort[3 * E];

    /* gather; the experts' two GEMMs, bias first */
    if (R > 0) {
        LAUNCH(gather_kernel, R * D, d->xe, x, d->perm, R, D, k);
        LAUNCH(expert_bias_kernel, R * F, d->pre, m->w.b1, d->row_expert, R, F);
        TRY(experts_gemm(m, 0, 1, 0, F, D, rows(d->xe, D), per_expert(m->w.w1, (int64_t)F * D), rows(d->pre, F), 1.0f));
        TRY(mc_cuda_act_forward(c, d->hid, d->pre, R * F, cf->act));
        LAUNCH(expert_bias_kernel, R * D, d->ye, m->w.b2, d->row_expert, R, D);
        TRY(experts_gemm(m, 0, 1, 0, D, F, rows(d->hid, F), per_expert(m->w.w2, (int64_t)D * F), rows(d->ye, D), 1.0f));
    }

    /* shared experts, then the weighted routed outputs */
    TRY(mc_cuda_memset(c, out, 0, (size_t)T * D * sizeof(float)));
    for (int s = 0; s < S; s++) {
        float *pre = d->spre + (int64_t)s * T * Fs, *hid = d->shid + (int64_t)s * T * Fs;
        TRY(mc_cuda_linear_forward(c, pre, x, m->w.ws1 + (int64_t)s * Fs * D, m->w.bs1 + (int64_t)s * Fs, T, D, Fs));
        TRY(mc_cuda_act_forward(c, hid, pre, (int64_t)T * Fs, cf->act));
        TRY(mc_cuda_linear_forward(c, d->stmp, hid, m->w.ws2 + (int64_t)s * D * Fs, m->w.bs2 + (int64_t)s * D, T, Fs, D));
        LAUNCH(add_kernel, (int64_t)T * D, out, d->stmp, (int64_t)T * D);
    }
    LAUNCH(combine_kernel, (int64_t)T * D, out, d->ye, d->gates, d->pos, T, D, k);

    /* statistics and balance losses, as moe.c */
    double mean_load = (double)P / E, var = 0.0, aux = 0.0, z = 0.0;
    for (int e = 0; e < E; e++) {
        m->count[e] = m->sort[e];
        m->stats.dropped += m->sort[e] - m->sort[E + e];
        var += ((double)m->count[e] - mean_load) * ((double)m->count[e] - mean_load);
    }
    if (cf->balance == MC_BALANCE_AUX_LOSS) {
        LAUNCH(score_sums_kernel, E, d->score_sums, d->scores, T, E);
        TRY(mc_cuda_to_host(c, m->score_sums, d->score_sums, (size_t)E * sizeof(double)));
        for (int e = 0; e < E; e++) aux += ((double)m->count[e] / (double)P) * (m->score_sums[e] / T);
        aux *= (double)cf->aux_alpha * E;
    }
    if (cf->z_coef > 0) {
        TRY(mc_cuda_to_host(c, m->lse, d->lse, (size_t)T * sizeof(float)));
        for (int t = 0; t < T; t++) z += (double)m->lse[t] * m->lse[t];
        z *= (double)cf->z_coef / T;
    }
    m->stats.aux_loss = aux;
    m->stats.z_loss = z;
    m->stats.balance_cv = mean_load > 0 ? sqrt(var / E) / mean_load : 0.0;
    return MC_OK;
}

extern "C" mc_status mc_moe_cuda_backward(mc_moe_cuda *m, float *dx, const float *dout) {
    if (!m) return MC_ERR_ARG;
    mc_cuda_ctx *c = m->c;
    MC_CU_ARG(c, dout, "no output gradient");
    if (!m->have_forward || !m->have_grads || m->last_T == 0) return MC_OK;
    const mc_moe_config *cf = &m->cfg;
    moe_dev *d = &m->d;
    const int T = m->last_T, E = cf->n_experts, k = cf->top_k, D = cf->d_model, F = cf->d_ff, S = cf->n_shared, Fs = m->Fs;
    const int64_t P = (int64_t)T * k, R = m->sort[3 * E];
    const float *x = m->x;

    /* gates and expert outputs */
    pair_backward_kernel<<<mc_cuda_blocks(P * 32), MC_CUDA_THREADS, 0, c->stream>>>(d->dye, d->dgates, dout, d->ye,
                                                                                    d->gates, d->pos, P, D, k);
    MC_CU_LAUNCHED(c, pair_backward_kernel);

    /* experts: dh = dye W2; dW2 += dye^T hid; db2; dpre = dh act'; dxe = dpre W1; dW1 += dpre^T xe; db1 */
    if (R > 0) {
        TRY(experts_gemm(m, 0, 0, 0, F, D, rows(d->dye, D), per_expert(m->w.w2, (int64_t)D * F), rows(d->dh, F), 0.0f));
        TRY(experts_gemm(m, 1, 0, 1, D, F, rows(d->dye, D), rows(d->hid, F), per_expert(m->g.w2, (int64_t)D * F), 1.0f));
        LAUNCH(expert_column_sums_kernel, (int64_t)E * D, m->g.b2, d->dye, d->sort + 2 * E, E, D);
        TRY(mc_cuda_memset(c, d->dpre, 0, (size_t)R * F * sizeof(float)));
        TRY(mc_cuda_act_backward(c, d->dpre, d->dh, d->pre, d->hid, R * F, cf->act));
        TRY(experts_gemm(m, 0, 0, 0, D, F, rows(d->dpre, F), per_expert(m->w.w1, (int64_t)F * D), rows(d->dxe, D), 0.0f));
        TRY(experts_gemm(m, 1, 0, 1, F, D, rows(d->dpre, F), rows(d->xe, D), per_expert(m->g.w1, (int64_t)F * D), 1.0f));
        LAUNCH(expert_column_sums_kernel, (int64_t)E * F, m->g.b1, d->dpre, d->sort + 2 * E, E, F);
        if (dx) LAUNCH(scatter_dx_kernel, (int64_t)T * D, dx, d->dxe, d->pos, T, D, k);
    }

    /* shared experts */
    for (int s = 0; s < S; s++) {
        float *pre = d->spre + (int64_t)s * T * Fs, *hid = d->shid + (int64_t)s * T * Fs;
        TRY(mc_cuda_memset(c, d->dh, 0, (size_t)T * Fs * sizeof(float)));
        TRY(mc_cuda_memset(c, d->dpre, 0, (size_t)T * Fs * sizeof(float)));
        TRY(mc_cuda_linear_backward(c, d->dh, m->g.ws2 + (int64_t)s * D * Fs, m->g.bs2 + (int64_t)s * D, dout, hid,
                                    m->w.ws2 + (int64_t)s * D * Fs, T, Fs, D));
        TRY(mc_cuda_act_backward(c, d->dpre, d->dh, pre, hid, (int64_t)T * Fs, cf->act));
        TRY(mc_cuda_linear_backward(c, dx, m->g.ws1 + (int64_t)s * Fs * D, m->g.bs1 + (int64_t)s * Fs, d->dpre, x,
                                    m->w.ws1 + (int64_t)s * Fs * D, T, D, Fs));
    }

    /* router: gates -> scores (+ balance loss) -> logits (+ z-loss) -> x and w_router, in FP32 */
    const float *aux_grad = NULL;
    if (cf->balance == MC_BALANCE_AUX_LOSS) {
        for (int e = 0; e < E; e++) m->aux_grad[e] = (float)((double)cf->aux_alpha * E * ((double)m->count[e] / (double)P) / T);
        TRY(mc_cuda_to_device(c, d->aux_grad, m->aux_grad, (size_t)E * sizeof(float)));
        aux_grad = d->aux_grad;
    }
    TRY(mc_cuda_memset(c, d->dscores, 0, (size_t)T * E * sizeof(float)));
    LAUNCH(dscores_kernel, T, d->dscores, d->dgates, d->scores, d->topk, aux_grad, T, E, k, cf->norm_topk);
    TRY(mc_cuda_memset(c, d->dlogits, 0, (size_t)T * E * sizeof(float)));
    if (cf->score == MC_ROUTER_SOFTMAX)
        TRY(mc_cuda_softmax_backward(c, d->dlogits, d->dscores, d->scores, T, E));
    else
        TRY(mc_cuda_act_backward(c, d->dlogits, d->dscores, d->logits, d->scores, (int64_t)T * E, MC_ACT_SIGMOID));
    if (cf->z_coef > 0) LAUNCH(zloss_backward_kernel, (int64_t)T * E, d->dlogits, d->logits, d->lse, T, E, cf->z_coef);
    if (dx) TRY(mc_cuda_gemm_math(c, MC_CUDA_MATH_FP32, 0, 0, T, D, E, 1.0f, d->dlogits, E, m->w.w_router, D, 1.0f, dx, D));
    TRY(mc_cuda_gemm_math(c, MC_CUDA_MATH_FP32, 1, 0, E, D, T, 1.0f, d->dlogits, E, x, D, 1.0f, m->g.w_router, D));
    return MC_OK;
}

extern "C" mc_status mc_moe_cuda_update_bias(mc_moe_cuda *m) {
    if (!m) return MC_ERR_ARG;
    const mc_moe_config *cf = &m->cfg;
    if (cf->balance != MC_BALANCE_BIAS || m->last_T == 0) return MC_OK;
    double mean = (double)m->last_T * cf->top_k / cf->n_experts;
    for (int e = 0; e < cf->n_experts; e++) {
        double diff = mean - (double)m->count[e];
        m->bias[e] += cf->bias_gamma * (float)((diff > 0) - (diff < 0));
    }
    return mc_cuda_to_device(m->c, m->d.bias, m->bias, (size_t)cf->n_experts * sizeof(float));
}

extern "C" mc_status mc_moe_cuda_get_bias(mc_moe_cuda *m, float *bias) {
    if (!m || !bias) return MC_ERR_ARG;
    memcpy(bias, m->bias, (size_t)m->cfg.n_experts * sizeof(float));
    return MC_OK;
}

extern "C" mc_status mc_moe_cuda_set_bias(mc_moe_cuda *m, const float *bias) {
    if (!m || !bias) return MC_ERR_ARG;
    memcpy(m->bias, bias, (size_t)m->cfg.n_experts * sizeof(float));
    return mc_cuda_to_device(m->c, m->d.bias, m->bias, (size_t)m->cfg.n_experts * sizeof(float));
}
