// nn_index.cpp: nn_index.h over FAISS. Every entry point catches every exception and turns it
// into an mc_status.
#include "nn_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/utils/distances.h>

#include <cmath>
#include <exception>
#include <memory>
#include <new>
#include <vector>

struct fab_nn_index {
    faiss::IndexFlatL2 index;
    std::vector<float> d2;                    // squared distances of the last search
    std::vector<faiss::Index::idx_t> label;   // and their neighbours (unused, FAISS needs them)
    explicit fab_nn_index(int dim) : index(dim) {}
};

extern "C" mc_status fab_nn_create(fab_nn_index **out, const float *bank, int n, int dim, mc_error *err) {
    *out = nullptr;
    try {
        // FAISS compares queries and bank vectors in blocks of one BLAS product each; its default
        // block (4096 x 1024 distances, 16 MB) leaves the cache between the product and the scan
        // for the smallest, where a block of 256 x 1024 (1 MB) stays in it: 12% faster for a batch
        // of 16 images (12544 queries of 36 floats, 4000 bank vectors, one thread, AVX2 machine).
        // The setting is FAISS's global; this program has no other index.
        faiss::distance_compute_blas_query_bs = 256;
        std::unique_ptr<fab_nn_index> idx(new fab_nn_index(dim));
        idx->index.add(n, bank);
        *out = idx.release();
        return MC_OK;
    } catch (const std::bad_alloc &) {
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory for a nearest-neighbour index of %d vectors", n);
    } catch (const std::exception &e) {
        return mc_error_set(err, MC_ERR_INTERNAL, "nearest-neighbour index: %s", e.what());
    }
}

extern "C" mc_status fab_nn_search(fab_nn_index *idx, const float *queries, int nq, float *dist, mc_error *err) {
    try {
        idx->d2.resize((size_t)nq);
        idx->label.resize((size_t)nq);
        idx->index.search(nq, queries, 1, idx->d2.data(), idx->label.data());
        for (int i = 0; i < nq; i++) dist[i] = std::sqrt(idx->d2[(size_t)i] > 0 ? idx->d2[(size_t)i] : 0.0f);
        return MC_OK;
    } catch (const std::bad_alloc &) {
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory searching %d queries", nq);
    } catch (const std::exception &e) {
        return mc_error_set(err, MC_ERR_INTERNAL, "nearest-neighbour search: %s", e.what());
    }
}

extern "C" void fab_nn_free(fab_nn_index *idx) { delete idx; }
