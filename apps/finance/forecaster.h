/* forecaster.h: the MoE return forecaster of moe-finance: its features (scale-free factors,
 * standardised with the training set's statistics), its target (the log return over the next h
 * days, in percent), its network, and the model file that carries all of it. */
#ifndef MOE_FINANCE_FORECASTER_H
#define MOE_FINANCE_FORECASTER_H

#include "moecore/model.h"
#include "factors.h"
#include "prices.h"

#define FIN_MAX_FEATURES 256

typedef struct fin_forecaster {
    mc_model *model;
    int horizon;                    /* days ahead */
    int n_features;
    int factor[FIN_MAX_FEATURES];   /* factor index of each input, or FIN_INPUT_P_BULL / P_BEAR */
    unsigned long long regime_seed; /* seed of the walk-forward regimes behind the regime inputs */
    double mean[FIN_MAX_FEATURES];  /* training statistics of each input */
    double sd[FIN_MAX_FEATURES];
} fin_forecaster;

/* Input indices past the factors: the walk-forward filtered probabilities of the bull and bear
 * regimes (regime_walk.h, 2 states, default schedule, seeded by regime_seed). */
#define FIN_INPUT_P_BULL (fin_factor_count())
#define FIN_INPUT_P_BEAR (fin_factor_count() + 1)

/* The name of input index i ("KMID", ..., "regime_p_bull", "regime_p_bear"), and back (-1 when unknown). */
const char *fin_input_name(int i);
int fin_input_index(const char *name);

/* The inputs: every factor that does not depend on the price level (the Alpha158 family, which
 * Qlib normalises by the close, and the bounded or relative indicators). */
int fin_forecaster_default_features(int *factor);

/* The inputs named in list ("KMID,ROC5,regime_p_bull": factor names and the regime inputs, comma
 * separated) into factor[]. Returns how many, or -1 with the reason in msg (an unknown or repeated
 * name, an empty list, more than FIN_MAX_FEATURES). */
int fin_forecaster_parse_features(const char *list, int *factor, char *msg, size_t size);

/* The size of the forecaster's MoE layer: routed experts, how many each row uses, and the hidden
 * width of every expert (the shared one too). */
typedef struct fin_moe_shape {
    int experts, top_k, width;
} fin_moe_shape;

#define FIN_MOE_SHAPE_DEFAULT ((fin_moe_shape){8, 2, 64})

/* The network for n inputs: linear 64, GELU, layer norm, an MoE layer of shape s (one shared expert,
 * bias balancing) with a residual connection, and a linear output. With top-1 routing the gate is the
 * router's score, not renormalised (which would make it always 1 and leave the router untrained by
 * the forecast error). */
const char *fin_forecaster_arch(int n_inputs, fin_moe_shape s, char *buf, size_t size);

/* The dense baseline of the same active size: the MoE layer replaced by one MLP as wide as the
 * experts a row passes through ((top_k + 1) * width). */
const char *fin_forecaster_dense_arch(int n_inputs, fin_moe_shape s, char *buf, size_t size);

/* Rows (bars from `from` on with every input defined and, when targets is set, the bar h days later
 * known) of one symbol: x (rows, n_features) unstandardised, y (rows) the targets, bar (rows) the bar
 * index. The inputs of a bar are the same whatever from is (fin_factors_compute_from), and cost
 * little for the bars before it. Arrays are malloc'd (caller frees); returns the row count or -1
 * when out of memory. */
int fin_forecaster_rows(const fin_forecaster *f, const fin_prices *p, int from, int targets, double **x, double **y,
                        int **bar);

/* Saves model, features, statistics and horizon, plus provenance metadata (may be NULL). */
mc_status fin_forecaster_save(const fin_forecaster *f, const char *path, const mc_st_meta *meta, int n_meta, mc_error *err);

/* Loads a forecaster, checking that the file is one (features known, statistics finite, the
 * network's input size equal to the feature count, one output). */
mc_status fin_forecaster_load(fin_forecaster *f, const char *path, mc_error *err);

/* Predicts the h-day return (%) of rows x (n, n_features), unstandardised, into out (n). */
mc_status fin_forecaster_predict(fin_forecaster *f, const double *x, int n, double *out);

/* out (p->n): the forecaster's prediction from each bar with every input defined, NAN elsewhere.
 * Returns 0, or -1 when out of memory. */
int fin_forecast_path(fin_forecaster *f, const fin_prices *p, double *out);

void fin_forecaster_free(fin_forecaster *f);

#endif
