/* fuzz_model_file.c: libmoecore's model files (mc_model_load) on arbitrary bytes: the safetensors
 * container, the architecture in its metadata, and every tensor checked against the network that
 * architecture builds. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_io.h"
#include "moecore/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("model.safetensors", data, size);
    mc_model *m = NULL;
    mc_safetensors *f = NULL;
    mc_error err;
    if (mc_model_load(&m, path, &f, &err) != MC_OK) {
        if (!err.msg[0] || m || f) abort(); /* a rejection says why and returns nothing */
        return 0;
    }
    if (mc_model_num_params(m) < 0 || mc_model_input_size(m) < 1 || mc_model_output_size(m) < 1) abort();
    mc_safetensors_close(f);
    mc_model_destroy(m);
    return 0;
}
