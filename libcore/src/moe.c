/* moe.c: the Mixture-of-Experts layer: router, top-k selection, capacity, sparse dispatch by
 * counting sort, per-expert GEMMs, weighted combine, shared experts, balance losses, backward. */
#include "moecore/moe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moe_gate_grad.h"

/* Activations of one training forward, sized for up to cap_T tokens. */
typedef struct moe_work {
    int cap_T;
    float *logits, *scores;      /* (T, E) */
    int32_t *topk;               /* (T, k) chosen experts */
    float *gates;                /* (T, k) */
    int32_t *pos;                /* (T, k) row of each pair in expert order, -1 when dropped */
    int32_t *perm;               /* (P) pair index of each row in expert order */
    float *xe;                   /* (P, D) gathered inputs */
    float *pre, *hid;            /* (P, F) before/after the activation */
    float *ye;                   /* (P, D) expert outputs */
    float *spre, *shid;          /* (S, T, Fs) shared experts */
    float *stmp;                 /* (T, D) */
    float *lse;                  /* (T) logsumexp of logits, for the z-loss */
    /* backward */
    float *dye, *dxe;            /* (P, D) */
    float *dh, *dpre;            /* (P, max(F, Fs) * max(1, T/P)) sized for both routed and shared use */
    float *dscores, *dlogits;    /* (T, E) */
    float *dgates;               /* (T, k) */
} moe_work;

struct mc_moe {
    mc_moe_config c;
    int Fs;
    float *params, *grads;
    mc_moe_weights w, g;
    float *bias;                 /* (E) selection bias */
    int64_t *count;              /* (E) pairs routed per expert, before capacity */
    int64_t *kept;               /* (E) pairs kept per expert */
    int64_t *offset;             /* (E + 1) first row of each expert */
    mc_moe_stats stats;
    int last_T;
    int have_forward;            /* the last forward was a training pass: backward may run */
    const float *x;              /* its input, which the caller keeps unchanged until backward */
    moe_work w_;
    void *work_mem;
};

void mc_moe_config_default(mc_moe_config *c) {
    memset(c, 0, sizeof *c);
    c->act = MC_ACT_GELU;
    c->score = MC_ROUTER_SOFTMAX;
    c->norm_topk = 1;
    c->balance = MC_BALANCE_AUX_LOSS;
    c->aux_alpha = 0.01f;
    c->bias_gamma = 0.001f;
}

mc_status mc_moe_config_check(const mc_moe_config *c, mc_error *err) {
    if (!c) return mc_error_set(err, MC_ERR_ARG, "moe: no configuration");
    if (c->d_model <= 0 || c->d_ff <= 0) return mc_error_set(err, MC_ERR_ARG, "moe: d_model and d_ff must be positive");
    if (c->n_experts <= 0 || c->n_experts > 4096) return mc_error_set(err, MC_ERR_ARG, "moe: n_experts must be 1..4096");
    if (c->top_k < 1 || c->top_k > c->n_experts) return mc_error_set(err, MC_ERR_ARG, "moe: top_k must be 1..n_experts");
    if (c->n_shared < 0 || c->d_ff_shared < 0) return mc_error_set(err, MC_ERR_ARG, "moe: n_shared and d_ff_shared must be >= 0");
    if ((unsigned)c->act > MC_ACT_TANH) return mc_error_set(err, MC_ERR_ARG, "moe: unknown activation");
    if ((unsigned)c->score > MC_ROUTER_SIGMOID) return mc_error_set(err, MC_ERR_ARG, "moe: unknown router score");
    if ((unsigned)c->balance > MC_BALANCE_BIAS) return mc_error_set(err, MC_ERR_ARG, "moe: unknown balance mode");
    if (!(c->noise_std >= 0) || !(c->aux_alpha >= 0) || !(c->bias_gamma >= 0) || !(c->z_coef >= 0) || !(c->capacity_factor >= 0))
        return mc_error_set(err, MC_ERR_ARG, "moe: noise_std, aux_alpha, bias_gamma, z_coef, capacity_factor must be >= 0");
    return MC_OK;
}

static int shared_ff(const mc_moe_config *c) { return c->d_ff_shared > 0 ? c->d_ff_shared : c->d_ff; }

int64_t mc_moe_num_params(const mc_moe_config *c) {
    int64_t D = c->d_model, F = c->d_ff, E = c->n_experts, S = c->n_shared, Fs = shared_ff(c);
    return E * D + E * (F * D + F + D * F + D) + S * (Fs * D + Fs + D * Fs + D);
}

mc_moe_weights mc_moe_weights_at(const mc_moe_config *c, float *flat) {
    int64_t D = c->d_model, F = c->d_ff, E = c->n_experts, S = c->n_shared, Fs = shared_ff(c);
    mc_moe_weights w;
    w.w_router = flat;
    w.w1 = w.w_router + E * D;
    w.b1 = w.w1 + E * F * D;
    w.w2 = w.b1 + E * F;
    w.b2 = w.w2 + E * D * F;
    w.ws1 = w.b2 + E * D;
    w.bs1 = w.ws1 + S * Fs * D;
    w.ws2 = w.bs1 + S * Fs;
    w.bs2 = w.ws2 + S * D * Fs;
    return w;
}

mc_status mc_moe_create(mc_moe **out, const mc_moe_config *c, float *params, float *grads, mc_error *err) {
    if (!out || !params) return mc_error_set(err, MC_ERR_ARG, "moe: no parameters");
    *out = NULL;
    mc_status st = mc_moe_config_check(c, err);
    if (st != MC_OK) return st;
    mc_moe *m = calloc(1, sizeof *m);
    int E = c->n_experts;
    if (!m || !(m->bias = calloc((size_t)E, sizeof *m->bias)) || !(m->count = calloc((size_t)E, sizeof *m->count)) ||
        !(m->kept = calloc((size_t)E, sizeof *m->kept)) || !(m->offset = calloc((size_t)E + 1, sizeof *m->offset))) {
        mc_moe_destroy(m);
        return mc_error_set(err, MC_ERR_NOMEM, "moe: out of memory");
    }
    m->c = *c;
    m->Fs = shared_ff(c);
    m->params = params;
    m->grads = grads;
    m->w = mc_moe_weights_at(c, params);
    if (grads) m->g = mc_moe_weights_at(c, grads);
    m->stats.load = m->count;
    *out = m;
    return MC_OK;
}

void mc_moe_destroy(mc_moe *m) {
    if (!m) return;
    free(m->bias);
    free(m->count);
    free(m->kept);
    free(m->offset);
    free(m->work_mem);
    free(m);
}

const mc_moe_config *mc_moe_get_config(const mc_moe *m) { return &m->c; }

const mc_moe_stats *mc_moe_get_stats(const mc_moe *m) { return &m->stats; }

float *mc_moe_bias(mc_moe *m) { return m->bias; }

static void init_uniform(float *v, int64_t n, float bound, mc_rng *rng) {
    for (int64_t i = 0; i < n; i++) v[i] = (float)((2.0 * mc_rng_uniform(rng) - 1.0) * bound);
}

void mc_moe_init_params(mc_moe *m, mc_rng *rng) {
    const mc_moe_config *c = &m->c;
    int64_t D = c->d_model, F = c->d_ff, E = c->n_experts, S = c->n_shared, Fs = m->Fs;
    float bd = 1.0f / sqrtf((float)D), bf = 1.0f / sqrtf((float)F), bfs = 1.0f / sqrtf((float)Fs);
    init_uniform(m->w.w_router, E * D, bd, rng);
    for (int64_t e = 0; e < E; e++) {
        init_uniform(m->w.w1 + e * F * D, F * D, bd, rng);
        init_uniform(m->w.b1 + e * F, F, bd, rng);
        init_uniform(m->w.w2 + e * D * F, D * F, bf, rng);
        init_uniform(m->w.b2 + e * D, D, bf, rng);
    }
    for (int64_t s = 0; s < S; s++) {
        init_uniform(m->w.ws1 + s * Fs * D, Fs * D, bd, rng);
        init_uniform(m->w.bs1 + s * Fs, Fs, bd, rng);
        init_uniform(m->w.ws2 + s * D * Fs, D * Fs, bfs, rng);
        init_uniform(m->w.bs2 + s * D, D, bfs, rng);
    }
}

/* Makes the workspace hold T tokens. */
static mc_status ensure_work(mc_moe *m, int T) {
    if (T <= m->w_.cap_T) return MC_OK;
    const mc_moe_config *c = &m->c;
    size_t E = (size_t)c->n_experts, k = (size_t)c->top_k, D = (size_t)c->d_model, F = (size_t)c->d_ff;
    size_t S = (size_t)c->n_shared, Fs = (size_t)m->Fs, t = (size_t)T, P = t * k;
    size_t Fmax = F > Fs ? F : Fs, Rmax = P > t ? P : t;
    struct {
        void **p;
        size_t bytes;
    } parts[] = {
        {(void **)&m->w_.logits, t * E * 4},  {(void **)&m->w_.scores, t * E * 4},  {(void **)&m->w_.topk, P * 4},
        {(void **)&m->w_.gates, P * 4},       {(void **)&m->w_.pos, P * 4},         {(void **)&m->w_.perm, P * 4},
        {(void **)&m->w_.xe, P * D * 4},      {(void **)&m->w_.pre, P * F * 4},     {(void **)&m->w_.hid, P * F * 4},
        {(void **)&m->w_.ye, P * D * 4},      {(void **)&m->w_.spre, S * t * Fs * 4}, {(void **)&m->w_.shid, S * t * Fs * 4},
        {(void **)&m->w_.stmp, t * D * 4},    {(void **)&m->w_.lse, t * 4},         {(void **)&m->w_.dye, Rmax * D * 4},
        {(void **)&m->w_.dxe, P * D * 4},     {(void **)&m->w_.dh, Rmax * Fmax * 4}, {(void **)&m->w_.dpre, Rmax * Fmax * 4},
        {(void **)&m->w_.dscores, t * E * 4}, {(void **)&m->w_.dlogits, t * E * 4}, {(void **)&m->w_.dgates, P * 4},
    };
    size_t n = sizeof parts / sizeof parts[0], total = 0;
    for (size_t i = 0; i < n; i++) total += (parts[i].bytes + 63) / 64 * 64;
    void *mem = aligned_alloc(64, total ? total : 64);
    if (!mem) return MC_ERR_NOMEM;
    free(m->work_mem);
    m->work_mem = mem;
    char *p = mem;
    for (size_t i = 0; i < n; i++) {
        *parts[i].p = p;
        p += (parts[i].bytes + 63) / 64 * 64;
    }
    m->w_.cap_T = T;
    return MC_OK;
}

/* The k largest of sel (E) into idx, ties to the lower index, in decreasing order. */
static void top_k(int32_t *idx, const float *sel, int E, int k) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int i = 0; i < j; i++) taken |= idx[i] == e;
            if (!taken && (best < 0 || sel[e] > sel[best])) best = e;
        }
        idx[j] = best;
    }
}

mc_status mc_moe_forward(mc_moe *m, float *out, const float *x, int T, int train, mc_rng *rng) {
    if (T < 0) return MC_ERR_ARG;
    mc_status st = ensure_work(m, T > 0 ? T : 1);
    if (st != MC_OK) return st;
    const mc_moe_config *c = &m->c;
    moe_work *w = &m->w_;
    const int E = c->n_experts, k = c->top_k, D = c->d_model, F = c->d_ff, S = c->n_shared, Fs = m->Fs;
    const int64_t P = (int64_t)T * k;

    /* router */
    mc_linear_forward(w->logits, x, m->w.w_router, NULL, T, D, E);
    if (c->score == MC_ROUTER_SOFTMAX) {
        mc_softmax_forward(w->scores, w->logits, T, E);
    } else {
        mc_act_forward(w->scores, w->logits, (int64_t)T * E, MC_ACT_SIGMOID);
    }

    /* selection: scores + bias (+ noise, drawn serially so the result does not depend on threads) */
    float *sel = w->dscores; /* free until backward */
    int use_bias = c->balance == MC_BALANCE_BIAS;
    for (int64_t i = 0; i < (int64_t)T * E; i++) {
        sel[i] = w->scores[i] + (use_bias ? m->bias[i % E] : 0.0f);
        if (train && c->noise_std > 0 && rng) sel[i] += c->noise_std * (float)mc_rng_normal(rng);
    }
    #pragma omp parallel for schedule(static) if (T > 256)
    for (int t = 0; t < T; t++) {
        int32_t *idx = w->topk + (int64_t)t * k;
        top_k(idx, sel + (int64_t)t * E, E, k);
        float sum = 0.0f;
        for (int j = 0; j < k; j++) sum += w->scores[(int64_t)t * E + idx[j]];
        for (int j = 0; j < k; j++) {
            float s = w->scores[(int64_t)t * E + idx[j]];
            w->gates[(int64_t)t * k + j] = c->norm_topk ? s / (sum > 0 ? sum : 1e-20f) : s;
        }
    }

    /* counting sort of pairs by expert, with the capacity limit in token order */
    memset(m->count, 0, (size_t)E * sizeof *m->count);
    for (int64_t p = 0; p < P; p++) m->count[w->topk[p]]++;
    int64_t cap = c->capacity_factor > 0 ? (int64_t)ceil((double)c->capacity_factor * (double)P / E) : P;
    m->offset[0] = 0;
    for (int e = 0; e < E; e++) {
        m->kept[e] = m->count[e] < cap ? m->count[e] : cap;
        m->offset[e + 1] = m->offset[e] + m->kept[e];
    }
    int64_t dropped = 0;
    for (int e = 0; e < E; e++) m->kept[e] = 0; /* refilled below, ending at min(count, cap) again */
    for (int64_t p = 0; p < P; p++) {
        int e = w->topk[p];
        if (m->kept[e] < cap) {
            int64_t r = m->offset[e] + m->kept[e]++;
            w->pos[p] = (int32_t)r;
            w->perm[r] = (int32_t)p;
        } else {
            w->pos[p] = -1;
            dropped++;
        }
    }
    const int64_t R = m->offset[E];

    /* gather, run each expert on its block */
    #pragma omp parallel for schedule(static) if (R * D > 65536)
    for (int64_t r = 0; r < R; r++) memcpy(w->xe + r * D, x + (int64_t)(w->perm[r] / k) * D, (size_t)D * sizeof *x);
    for (int e = 0; e < E; e++) {
        int64_t o = m->offset[e], n = m->kept[e];
        if (n == 0) continue;
        mc_linear_forward(w->pre + o * F, w->xe + o * D, m->w.w1 + (int64_t)e * F * D, m->w.b1 + (int64_t)e * F, (int)n, D, F);
        mc_act_forward(w->hid + o * F, w->pre + o * F, n * F, c->act);
        mc_linear_forward(w->ye + o * D, w->hid + o * F, m->w.w2 + (int64_t)e * D * F, m->w.b2 + (int64_t)e * D, (int)n, F, D);
    }

    /* shared experts, then the weighted routed outputs of each token */
    memset(out, 0, (size_t)T * D * sizeof *out);
    for (int s = 0; s < S; s++) {
        float *pre = w->spre + (int64_t)s * T * Fs, *hid = w->shid + (int64_t)s * T * Fs;
        mc_linear_forward(pre, x, m->w.ws1 + (int64_t)s * Fs * D, m->w.bs1 + (int64_t)s * Fs, T, D, Fs);
        mc_act_forward(hid, pre, (int64_t)T * Fs, c->act);
        mc_linear_forward(w->stmp, hid, m->w.ws2 + (int64_t)s * D * Fs, m->w.bs2 + (int64_t)s * D, T, Fs, D);
        #pragma omp parallel for simd schedule(static) if ((int64_t)T * D > 65536)
        for (int64_t i = 0; i < (int64_t)T * D; i++) out[i] += w->stmp[i];
    }
    #pragma omp parallel for schedule(static) if ((int64_t)T * D > 65536)
    for (int t = 0; t < T; t++) {
        float *o = out + (int64_t)t * D;
        for (int j = 0; j < k; j++) {
            int32_t r = w->pos[(int64_t)t * k + j];
            if (r < 0) continue;
            float g = w->gates[(int64_t)t * k + j];
            const float *y = w->ye + (int64_t)r * D;
            for (int d = 0; d < D; d++) o[d] += g * y[d];
        }
    }

    /* balance statistics and losses */
    double aux = 0.0, z = 0.0, mean_load = (double)P / E, var = 0.0;
    for (int e = 0; e < E; e++) var += ((double)m->count[e] - mean_load) * ((double)m->count[e] - mean_load);
    if (c->balance == MC_BALANCE_AUX_LOSS && T > 0) {
        for (int e = 0; e < E; e++) {
            double Pe = 0.0;
            for (int t = 0; t < T; t++) Pe += w->scores[(int64_t)t * E + e];
            aux += ((double)m->count[e] / (double)P) * (Pe / T);
        }
        aux *= (double)c->aux_alpha * E;
    }
    if (c->z_coef > 0 && T > 0) {
        for (int t = 0; t < T; t++) {
            const float *l = w->logits + (int64_t)t * E;
            float mx = l[0];
            for (int e = 1; e < E; e++) mx = l[e] > mx ? l[e] : mx;
            double s = 0.0;
            for (int e = 0; e < E; e++) s += exp((double)l[e] - mx);
            w->lse[t] = (float)(mx + log(s));
            z += (double)w->lse[t] * w->lse[t];
        }
        z *= (double)c->z_coef / T;
    }
    m->stats.tokens = T;
    m->stats.dropped = dropped;
    m->stats.aux_loss = aux;
    m->stats.z_loss = z;
    m->stats.balance_cv = mean_load > 0 ? sqrt(var / E) / mean_load : 0.0;
    m->last_T = T;
    m->have_forward = train;
    m->x = x;
    return MC_OK;
}

void mc_moe_backward(mc_moe *m, float *dx, const float *dout) {
    if (!m->have_forward || !m->grads) return;
    const mc_moe_config *c = &m->c;
    moe_work *w = &m->w_;
    const int T = m->last_T, E = c->n_experts, k = c->top_k, D = c->d_model, F = c->d_ff, S = c->n_shared, Fs = m->Fs;
    const int64_t P = (int64_t)T * k, R = m->offset[E];

    /* gates and expert outputs: dye = g * dout[t], dgate = <dout[t], ye> */
    #pragma omp parallel for schedule(static) if ((int64_t)T * D > 65536)
    for (int t = 0; t < T; t++) {
        const float *go = dout + (int64_t)t * D;
        for (int j = 0; j < k; j++) {
            int64_t p = (int64_t)t * k + j;
            int32_t r = w->pos[p];
            if (r < 0) {
                w->dgates[p] = 0.0f;
                continue;
            }
            float g = w->gates[p], dg = 0.0f;
            const float *y = w->ye + (int64_t)r * D;
            float *dy = w->dye + (int64_t)r * D;
            for (int d = 0; d < D; d++) {
                dy[d] = g * go[d];
                dg += go[d] * y[d];
            }
            w->dgates[p] = dg;
        }
    }

    /* experts */
    memset(w->dxe, 0, (size_t)R * D * sizeof *w->dxe);
    for (int e = 0; e < E; e++) {
        int64_t o = m->offset[e], n = m->kept[e];
        if (n == 0) continue;
        memset(w->dh, 0, (size_t)n * F * sizeof *w->dh);
        memset(w->dpre, 0, (size_t)n * F * sizeof *w->dpre);
        mc_linear_backward(w->dh, m->g.w2 + (int64_t)e * D * F, m->g.b2 + (int64_t)e * D, w->dye + o * D, w->hid + o * F,
                           m->w.w2 + (int64_t)e * D * F, (int)n, F, D);
        mc_act_backward(w->dpre, w->dh, w->pre + o * F, w->hid + o * F, n * F, c->act);
        mc_linear_backward(w->dxe + o * D, m->g.w1 + (int64_t)e * F * D, m->g.b1 + (int64_t)e * F, w->dpre, w->xe + o * D,
                           m->w.w1 + (int64_t)e * F * D, (int)n, D, F);
    }
    if (dx) {
        #pragma omp parallel for schedule(static) if ((int64_t)T * D > 65536)
        for (int t = 0; t < T; t++) {
            float *d = dx + (int64_t)t * D;
            for (int j = 0; j < k; j++) {
                int32_t r = w->pos[(int64_t)t * k + j];
                if (r < 0) continue;
                const float *s = w->dxe + (int64_t)r * D;
                for (int i = 0; i < D; i++) d[i] += s[i];
            }
        }
    }

    /* shared experts */
    const float *x = m->x;
    for (int s = 0; s < S; s++) {
        float *pre = w->spre + (int64_t)s * T * Fs, *hid = w->shid + (int64_t)s * T * Fs;
        memset(w->dh, 0, (size_t)T * Fs * sizeof *w->dh);
        memset(w->dpre, 0, (size_t)T * Fs * sizeof *w->dpre);
        mc_linear_backward(w->dh, m->g.ws2 + (int64_t)s * D * Fs, m->g.bs2 + (int64_t)s * D, dout, hid,
                           m->w.ws2 + (int64_t)s * D * Fs, T, Fs, D);
        mc_act_backward(w->dpre, w->dh, pre, hid, (int64_t)T * Fs, c->act);
        mc_linear_backward(dx, m->g.ws1 + (int64_t)s * Fs * D, m->g.bs1 + (int64_t)s * Fs, w->dpre, x,
                           m->w.ws1 + (int64_t)s * Fs * D, T, D, Fs);
    }

    /* router: gates -> scores (renormalisation), + balance loss, -> logits (+ z-loss) */
    float *ds = w->dscores, *dl = w->dlogits;
    memset(ds, 0, (size_t)T * E * sizeof *ds);
    #pragma omp parallel for schedule(static) if (T > 256)
    for (int t = 0; t < T; t++)
        moe_gate_grad(ds + (int64_t)t * E, w->dgates + (int64_t)t * k, w->scores + (int64_t)t * E, w->topk + (int64_t)t * k, k,
                      c->norm_topk);
    if (c->balance == MC_BALANCE_AUX_LOSS && T > 0) {
        /* d/ds[t,e] of alpha E sum_e f_e mean_t s[t,e] = alpha E f_e / T (f has no gradient) */
        for (int e = 0; e < E; e++) {
            float gsc = (float)((double)c->aux_alpha * E * ((double)m->count[e] / (double)P) / T);
            for (int t = 0; t < T; t++) ds[(int64_t)t * E + e] += gsc;
        }
    }
    memset(dl, 0, (size_t)T * E * sizeof *dl);
    if (c->score == MC_ROUTER_SOFTMAX)
        mc_softmax_backward(dl, ds, w->scores, T, E);
    else
        mc_act_backward(dl, ds, w->logits, w->scores, (int64_t)T * E, MC_ACT_SIGMOID);
    if (c->z_coef > 0 && T > 0) {
        /* d/dlogits of z mean_t lse_t^2 = 2 z lse_t softmax(logits_t) / T */
        #pragma omp parallel for schedule(static) if (T > 256)
        for (int t = 0; t < T; t++) {
            const float *l = w->logits + (int64_t)t * E;
            float lse = w->lse[t], scale = 2.0f * c->z_coef * lse / (float)T;
            for (int e = 0; e < E; e++) dl[(int64_t)t * E + e] += scale * expf(l[e] - lse);
        }
    }
    mc_linear_backward(dx, m->g.w_router, NULL, dl, x, m->w.w_router, T, D, E);
}

void mc_moe_update_bias(mc_moe *m) {
    const mc_moe_config *c = &m->c;
    if (c->balance != MC_BALANCE_BIAS || m->last_T == 0) return;
    double mean = (double)m->last_T * c->top_k / c->n_experts;
    for (int e = 0; e < c->n_experts; e++) {
        double d = mean - (double)m->count[e];
        m->bias[e] += c->bias_gamma * (float)((d > 0) - (d < 0));
    }
}
