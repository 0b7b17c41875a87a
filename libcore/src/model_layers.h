/* model_layers.h: what the files of a network share: the layer record, the model that holds a plain
 * array of them, the parameter blocks of a layer, and the functions one file gives the others
 * (model.c builds a network from its architecture, model_layout.c plans its layouts and workspace,
 * model_params.c its parameter blocks, model_pass.c runs it, model_file.c saves and loads it). */
#ifndef MOECORE_MODEL_LAYERS_H
#define MOECORE_MODEL_LAYERS_H

#include <stdint.h>

#include "moecore/model.h"
#include "moecore/nn.h"
#include "moecore/tensor.h"

typedef enum {
    L_LINEAR, L_ACT, L_LAYERNORM, L_DROPOUT, L_MOE, L_CONV, L_BATCHNORM, L_MAXPOOL, L_AVGPOOL,
    L_GLOBALPOOL, L_SE, L_SPATIAL, L_MHSA, L_ADD, L_FLATTEN, L_COUNT
} ltype;

/* The "type" of each layer in the architecture, indexed by ltype. */
extern const char *const mc_layer_type_name[L_COUNT];

typedef struct layer {
    ltype type;
    int in_nd, in_sh[4], out_nd, out_sh[4];
    int64_t in_size, out_size;   /* per sample */
    int blk;                     /* the output (and its gradient) is in the blocked layout */
    int add_reads;               /* an "add" layer reads the output (and adds into its gradient) */
    int relu_fused;              /* batch norm: the ReLU after it runs inside it (both blocked) */
    int64_t p_off, p_n;          /* parameters in the model's flat array */
    int64_t s_off;               /* state (batch-norm running statistics) in the model's state array */
    /* settings */
    int out_features, bias, k, stride, pad, dil, groups, heads, reduction, from;
    mc_act act;
    float eps, p, momentum;
    mc_moe_config moe_cfg;
    mc_moe *moe;
    /* workspace for the current batch */
    float *out, *dout, *s1, *s2, *s3;
    int32_t *i1;
    uint8_t *mask;
} layer;

struct mc_model {
    char *arch;
    int n_layers;
    layer L[MC_MODEL_MAX_LAYERS];
    int in_nd, in_sh[4];
    int64_t n_params, n_state;
    float *params, *grads, *state;
    mc_arena *ws;
    int ws_N;                    /* batch size the workspace is laid out for */
    float *dx;                   /* (N, input) */
    int N;                       /* batch of the last forward */
    const float *x;              /* input of the last training forward */
    int trained;                 /* the last forward was a training pass */
};

static inline int64_t prod(const int *v, int n) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= v[i];
    return p;
}

/* Floats per sample of layer l's output as stored: the channels padded to the block when blocked. */
static inline int64_t out_stored(const layer *l) {
    return l->blk ? l->out_size / l->out_sh[0] * mc_layout_channels(MC_LAYOUT_BLOCKED16, l->out_sh[0]) : l->out_size;
}

/* Marks the outputs kept in the blocked layout and the batch norms that run the ReLU after them
 * (model_layout.c). */
void mc_model_plan_layouts(mc_model *m);

/* Lays out every activation buffer for a batch of N; does nothing when the workspace already fits
 * (model_layout.c). */
mc_status mc_model_workspace(mc_model *m, int N);

enum { INIT_UNIFORM, INIT_ONES, INIT_ZEROS, INIT_NONE };

typedef struct block {
    char name[24];
    float *ptr;
    int ndim;
    int64_t shape[5];
    int decay;       /* takes weight decay */
    int state;       /* not a parameter: running statistics or selection bias */
    int init;
    float bound;     /* INIT_UNIFORM: +-bound */
} block;

/* The parameter and state blocks of layer li, in the order of the flat array; b holds 12. Returns
 * the count (model_params.c). */
int mc_layer_blocks(mc_model *m, int li, block *b);
int64_t mc_block_numel(const block *b);

#endif
