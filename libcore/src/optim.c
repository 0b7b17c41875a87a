/* optim.c: SGD with momentum and AdamW over flat float arrays, with torch.optim's update rules and
 * operation order; the warmup + cosine learning-rate schedule; clipping by global L2 norm as
 * torch.nn.utils.clip_grad_norm_. Scalars that PyTorch computes in Python (bias corrections, step
 * size, the decay factor) are computed here in double and rounded once to float. */
#include "moecore/optim.h"

#include <math.h>
#include <stdlib.h>

struct mc_optim {
    mc_optim_config c;
    int64_t n, t;
    float *m, *v; /* n each (one spare element so that n = 0 still allocates); v only for AdamW */
};

mc_optim *mc_optim_create(const mc_optim_config *cfg, int64_t n) {
    if (!cfg || n < 0) return NULL;
    mc_optim *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->c = *cfg;
    o->n = n;
    o->m = calloc((size_t)n + 1, sizeof *o->m);
    if (cfg->kind == MC_OPTIM_ADAMW) o->v = calloc((size_t)n + 1, sizeof *o->v);
    if (!o->m || (cfg->kind == MC_OPTIM_ADAMW && !o->v)) {
        mc_optim_destroy(o);
        return NULL;
    }
    return o;
}

void mc_optim_destroy(mc_optim *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o);
}

void mc_optim_begin_step(mc_optim *o) { o->t++; }

void mc_optim_update(mc_optim *o, float *p, const float *g, int64_t offset, int64_t n, float lr, float wd) {
    float *m = o->m + offset;
    if (o->c.kind == MC_OPTIM_SGD) {
        /* d = g + wd p; buf = momentum buf + d (PyTorch sets buf = d on the first step, which the
         * zero-initialised buffer gives exactly); p -= lr buf */
        const float mu = o->c.momentum;
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            if (mu != 0.0f) {
                m[i] = mu * m[i] + d;
                d = m[i];
            }
            p[i] -= lr * d;
        }
        return;
    }
    /* p *= 1 - lr wd; m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2;
     * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
    float *v = o->v + offset;
    const double b1 = o->c.beta1, b2 = o->c.beta2, t = (double)o->t;
    const float decay = (float)(1.0 - (double)lr * wd), w1 = (float)(1.0 - b1), w2 = (float)(1.0 - b2);
    const float beta2 = o->c.beta2, eps = o->c.eps;
    const float step = (float)(lr / (1.0 - pow(b1, t))), c2_sqrt = (float)sqrt(1.0 - pow(b2, t));
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] += w1 * (g[i] - m[i]);
        v[i] = beta2 * v[i] + w2 * (g[i] * g[i]);
        p[i] -= step * (m[i] / (sqrtf(v[i]) / c2_sqrt + eps));
    }
}

int64_t mc_optim_step_count(const mc_optim *o) { return o->t; }
void mc_optim_set_step(mc_optim *o, int64_t t) { o->t = t; }
float *mc_optim_m(mc_optim *o) { return o->m; }
float *mc_optim_v(mc_optim *o) { return o->v; }
int64_t mc_optim_size(const mc_optim *o) { return o->n; }

float mc_lr_at(const mc_lr_schedule *s, int64_t step) {
    if (step < s->warmup) return (float)((double)s->lr * (double)(step + 1) / (double)s->warmup);
    if (step >= s->total) return s->min_lr;
    const double f = (double)(step - s->warmup) / (double)(s->total - s->warmup);
    return (float)(s->min_lr + 0.5 * ((double)s->lr - s->min_lr) * (1.0 + cos(M_PI * f)));
}

/* The coefficient max_norm / (norm + 1e-6) is applied when below 1, as PyTorch's clamped one.
 * A non-finite norm is returned with the gradients left as they are (PyTorch would multiply them
 * by NaN), so the caller can skip the step. The sum runs serially in double: the same result for
 * any number of threads. */
double mc_clip_grad_norm(float *grads, int64_t n, double max_norm) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    const double norm = sqrt(ss), coef = max_norm / (norm + 1e-6);
    if (isfinite(norm) && coef < 1.0) {
        const float c = (float)coef;
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) grads[i] *= c;
    }
    return norm;
}
