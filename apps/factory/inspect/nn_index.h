/* nn_index.h: exact nearest-neighbour search over a memory bank of feature vectors, a C interface
 * over FAISS (nn_index.cpp; an IndexFlatL2, which compares each query with every bank vector by
 * BLAS matrix products). No C++ exception crosses this interface: a failure comes back as an
 * mc_status. An index is searched by one thread at a time; FAISS spreads one search over the cores. */
#ifndef MOE_FACTORY_NN_INDEX_H
#define MOE_FACTORY_NN_INDEX_H

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fab_nn_index fab_nn_index;

/* An index over n vectors of dim floats (row-major, copied). */
mc_status fab_nn_create(fab_nn_index **out, const float *bank, int n, int dim, mc_error *err);

/* For each of nq queries (nq x dim), dist[i] = the Euclidean distance to its nearest bank vector. */
mc_status fab_nn_search(fab_nn_index *idx, const float *queries, int nq, float *dist, mc_error *err);

void fab_nn_free(fab_nn_index *idx); /* accepts NULL */

#ifdef __cplusplus
}
#endif
#endif
