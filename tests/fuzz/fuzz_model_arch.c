/* fuzz_model_arch.c: libmoecore's reading of a network's JSON architecture (mc_model_create), the
 * text a model file keeps in its metadata, on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    mc_model *m = NULL;
    mc_error err;
    if (mc_model_create(&m, text, &err) != MC_OK) {
        if (!err.msg[0] || m) abort(); /* a rejection says why and returns nothing */
    } else {
        if (mc_model_num_params(m) < 0 || mc_model_input_size(m) < 1 || mc_model_output_size(m) < 1) abort();
        mc_model_destroy(m);
    }
    free(text);
    return 0;
}
