/* optim.c: SGD with momentum and AdamW over flat arrays (as torch.optim), the warmup + cosine
 * schedule, and clipping by global norm. */
#include "moecore/optim.h"

#include <math.h>
#include <stdlib.h>

struct mc_optim {
    mc_optim_config c;
    int64_t n, t;
    float *m, *v;
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
        const float mu = o->c.momentum;
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            if (mu != 0.0f) {
                m[i] = mu * m[i] + d; /* the buffer starts at zero: the first step stores d */
                d = m[i];
            }
            p[i] -= lr * d;
        }
        return;
    }
    float *v = o->v + offset;
    const float b1 = o->c.beta1, b2 = o->c.beta2, eps = o->c.eps;
    const float c1 = (float)(1.0 - pow(b1, (double)o->t)), c2 = (float)(1.0 - pow(b2, (double)o->t));
    const float step = lr / c1, inv_sqrt_c2 = 1.0f / sqrtf(c2);
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        p[i] *= 1.0f - lr * wd;
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_c2 + eps);
    }
}

int64_t mc_optim_step_count(const mc_optim *o) { return o->t; }
void mc_optim_set_step(mc_optim *o, int64_t t) { o->t = t; }
float *mc_optim_m(mc_optim *o) { return o->m; }
float *mc_optim_v(mc_optim *o) { return o->v; }
int64_t mc_optim_size(const mc_optim *o) { return o->n; }

float mc_lr_at(const mc_lr_schedule *s, int64_t step) {
    if (step < s->warmup) return s->lr * (float)(step + 1) / (float)s->warmup;
    if (step >= s->total) return s->min_lr;
    double f = (double)(step - s->warmup) / (double)(s->total - s->warmup);
    return (float)(s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(M_PI * f)));
}

double mc_clip_grad_norm(float *grads, int64_t n, double max_norm) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    double norm = sqrt(ss), coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) grads[i] *= c;
    }
    return norm;
}
