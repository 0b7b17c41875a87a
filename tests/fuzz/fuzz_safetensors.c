/* fuzz_safetensors.c: libmoecore's safetensors reader (mc_safetensors_open) on arbitrary bytes: a
 * file it opens has tensors whose views lie inside it and whose sizes match their shapes, lookups
 * by name and metadata key work, and the finiteness check reads every value. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_io.h"
#include "moecore/model_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("model.safetensors", data, size);
    mc_safetensors *f = NULL;
    mc_error err;
    if (mc_safetensors_open(&f, path, &err) != MC_OK) {
        if (!err.msg[0] || f) abort(); /* a rejection says why and returns nothing */
        return 0;
    }
    size_t total = 0;
    for (int i = 0; i < mc_safetensors_count(f); i++) {
        const mc_st_tensor *t = mc_safetensors_at(f, i);
        if (t->ndim < 0 || t->ndim > MC_ST_MAX_DIMS || mc_safetensors_find(f, t->name) != t) abort();
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
        if (numel * mc_dtype_size(t->dtype) != t->nbytes) abort();
        total += t->nbytes;
    }
    if (total > size) abort(); /* the data lies inside the file */
    mc_safetensors_meta(f, "moesuite.arch");
    mc_safetensors_check_finite(f, path, &err);
    mc_safetensors_close(f);
    return 0;
}
