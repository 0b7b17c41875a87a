/* test_model.c: networks from JSON: architecture errors, gradients of whole networks through every
 * layer type (so that every parameter block is wired to the right place) and through runs kept in
 * the blocked layout, save/load round trips and model files that do not match their architecture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradcheck.h"
#include "moecore/model.h"

static void test_architecture_errors(void **state) {
    (void)state;
    struct {
        const char *arch, *msg;
    } bad[] = {
        {"not json", "invalid JSON"},
        {"{\"input\":[4]}", "needs \"input\""},
        {"{\"input\":[0],\"layers\":[{\"type\":\"act\"}]}", "positive integers"},
        {"{\"input\":[4],\"layers\":[{\"type\":\"lstm\"}]}", "layer 0: unknown or missing \"type\""},
        {"{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":3,\"outs\":2}]}", "layer 0: unknown field \"outs\""},
        {"{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":-3}]}", "layer 0: \"out\" must be an integer"},
        {"{\"input\":[4],\"layers\":[{\"type\":\"act\",\"fn\":\"swish\"}]}", "\"fn\" has an unknown value"},
        {"{\"input\":[4],\"layers\":[{\"type\":\"conv\",\"out\":3}]}", "conv needs a [C, H, W]"},
        {"{\"input\":[1,4,4],\"layers\":[{\"type\":\"conv\",\"out\":3,\"k\":7}]}", "do not fit its input"},
        {"{\"input\":[4],\"layers\":[{\"type\":\"moe\",\"d_ff\":4,\"experts\":2,\"top_k\":3}]}", "top_k"},
        {"{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":3},{\"type\":\"add\",\"from\":-2}]}", "\"from\" must be"},
        {"{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":4},{\"type\":\"linear\",\"out\":3},{\"type\":\"add\",\"from\":-2}]}",
         "another shape"},
        {"{\"input\":[5,6],\"layers\":[{\"type\":\"mhsa\",\"heads\":4}]}", "divisible by heads"},
        {"{\"input\":[1,8,8],\"layers\":[{\"type\":\"spatial_attention\",\"k\":4}]}", "k must be odd"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mc_model *m = (mc_model *)1;
        mc_error e;
        assert_int_equal(mc_model_create(&m, bad[i].arch, &e), MC_ERR_FORMAT);
        assert_null(m);
        if (!strstr(e.msg, bad[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].msg);
    }
}

typedef struct {
    mc_model *m;
    float *x, *r;
    int N;
} net;

static double net_loss(void *p) {
    net *n = p;
    const float *out;
    assert_int_equal(mc_model_forward(n->m, n->x, n->N, 1, NULL, &out), MC_OK);
    return gc_dot(out, n->r, n->N * mc_model_output_size(n->m)) + mc_model_aux_loss(n->m);
}

/* Central differences of a whole network against mc_model_backward, for the input and a sample of
 * every parameter. Float32 with h = 3e-3 through several layers (smaller h would drown in rounding, larger in curvature): tolerance 3e-2 with floor 1e-2. */
static void check_network(const char *arch, int N, uint64_t seed) {
    net n = {.N = N};
    mc_error e;
    if (mc_model_create(&n.m, arch, &e) != MC_OK) fail_msg("%s", e.msg);
    mc_rng *rng = mc_rng_create(seed);
    mc_model_init(n.m, rng);
    int64_t in = mc_model_input_size(n.m) * N, out = mc_model_output_size(n.m) * N, np = mc_model_num_params(n.m);
    n.x = malloc(sizeof(float) * (size_t)in);
    n.r = malloc(sizeof(float) * (size_t)out);
    float *dx = malloc(sizeof(float) * (size_t)in);
    gc_fill(n.x, in, -1, 1, rng);
    gc_fill(n.r, out, -1, 1, rng);
    net_loss(&n);
    mc_model_zero_grad(n.m);
    assert_int_equal(mc_model_backward(n.m, n.r, dx), MC_OK);
    float *g = malloc(sizeof(float) * (size_t)np);
    memcpy(g, mc_model_grads(n.m), sizeof(float) * (size_t)np);
    assert_true(gc_check("network input", n.x, dx, in, net_loss, &n, 3e-3, 1e-2, 120, 3e-2) < 3e-2);
    assert_true(gc_check("network params", mc_model_params(n.m), g, np, net_loss, &n, 3e-3, 1e-2, 400, 3e-2) < 3e-2);
    free(g);
    free(dx);
    free(n.x);
    free(n.r);
    mc_rng_destroy(rng);
    mc_model_destroy(n.m);
}

/* Max-type operations (the channel max of spatial attention, max pooling) have kinks where a
 * perturbation can switch the winner; each network keeps them where values are well separated
 * (the layers' own tests cover them with spaced inputs). */
static void test_cnn_gradients(void **state) {
    (void)state;
    check_network("{\"input\":[2,6,6],\"layers\":[{\"type\":\"conv\",\"out\":4,\"k\":3,\"pad\":1},{\"type\":\"batchnorm\"},"
                  "{\"type\":\"act\",\"fn\":\"silu\"},{\"type\":\"se\",\"reduction\":2},"
                  "{\"type\":\"conv\",\"out\":4,\"k\":3,\"pad\":1,\"groups\":2},{\"type\":\"add\",\"from\":-3},"
                  "{\"type\":\"avgpool\",\"k\":2},{\"type\":\"conv\",\"out\":3,\"k\":1,\"bias\":false},{\"type\":\"globalavgpool\"},"
                  "{\"type\":\"linear\",\"out\":2}]}",
                  3, 21);
    check_network("{\"input\":[1,4,4,4],\"layers\":[{\"type\":\"conv\",\"out\":3,\"k\":3,\"pad\":1},{\"type\":\"act\",\"fn\":\"tanh\"},"
                  "{\"type\":\"spatial_attention\",\"k\":3},{\"type\":\"flatten\"},{\"type\":\"linear\",\"out\":2}]}",
                  2, 26);
}

/* Runs from a convolution through batch norm, activations and pooling to the next convolution keep
 * their activations blocked (model_layout.c): one such network with channel counts that are not
 * multiples of 16, and one where an "add" reads inside a run, which keeps that run plain. */
static void test_blocked_run_gradients(void **state) {
    (void)state;
    check_network("{\"input\":[3,7,7],\"layers\":[{\"type\":\"conv\",\"out\":18,\"k\":3,\"pad\":1},{\"type\":\"batchnorm\"},"
                  "{\"type\":\"act\",\"fn\":\"silu\"},{\"type\":\"avgpool\",\"k\":3,\"stride\":1,\"pad\":1},"
                  "{\"type\":\"conv\",\"out\":5,\"k\":3,\"stride\":2,\"pad\":1},{\"type\":\"act\",\"fn\":\"tanh\"},"
                  "{\"type\":\"conv\",\"out\":4,\"k\":1},{\"type\":\"flatten\"},{\"type\":\"linear\",\"out\":2}]}",
                  2, 27);
    check_network("{\"input\":[2,3,3,3],\"layers\":[{\"type\":\"conv\",\"out\":4,\"k\":3,\"pad\":1},{\"type\":\"act\",\"fn\":\"tanh\"},"
                  "{\"type\":\"conv\",\"out\":4,\"k\":3,\"pad\":1},{\"type\":\"batchnorm\"},{\"type\":\"add\",\"from\":-3},"
                  "{\"type\":\"conv\",\"out\":17,\"k\":1},{\"type\":\"act\",\"fn\":\"gelu\"},{\"type\":\"conv\",\"out\":2,\"k\":3},"
                  "{\"type\":\"flatten\"}]}",
                  3, 28);
}

static void test_sequence_and_moe_gradients(void **state) {
    (void)state;
    check_network("{\"input\":[5,8],\"layers\":[{\"type\":\"layernorm\"},{\"type\":\"mhsa\",\"heads\":2},{\"type\":\"add\",\"from\":-2},"
                  "{\"type\":\"moe\",\"d_ff\":6,\"experts\":4,\"top_k\":2,\"shared\":1,\"act\":\"tanh\",\"z_coef\":0.01},"
                  "{\"type\":\"dropout\",\"p\":0},{\"type\":\"flatten\"},{\"type\":\"linear\",\"out\":3}]}",
                  2, 23);
}

static void test_save_load(void **state) {
    (void)state;
    const char *arch = "{\"input\":[1,6,6],\"layers\":[{\"type\":\"conv\",\"out\":4,\"k\":3,\"pad\":1},{\"type\":\"batchnorm\"},"
                       "{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"maxpool\",\"k\":2},{\"type\":\"flatten\"},"
                       "{\"type\":\"moe\",\"d_ff\":8,\"experts\":4,\"top_k\":2,\"balance\":\"bias\"},{\"type\":\"linear\",\"out\":2}]}";
    mc_model *m, *l;
    mc_error e;
    assert_int_equal(mc_model_create(&m, arch, &e), MC_OK);
    mc_rng *rng = mc_rng_create(5);
    mc_model_init(m, rng);
    float x[2 * 36];
    gc_fill(x, 72, -1, 1, rng);
    const float *out;
    /* a training step moves the batch-norm statistics and the selection biases, which must survive too */
    assert_int_equal(mc_model_forward(m, x, 2, 1, rng, &out), MC_OK);
    mc_model_after_step(m);
    float ref[4];
    assert_int_equal(mc_model_forward(m, x, 2, 0, NULL, &out), MC_OK);
    memcpy(ref, out, sizeof ref);
    char path[512];
    snprintf(path, sizeof path, "%s/model-%ld.safetensors", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", (long)getpid());
    mc_st_meta meta = {"moesuite.trained_on", "unit test"};
    assert_int_equal(mc_model_save(m, path, NULL, 0, &meta, 1, &e), MC_OK);
    mc_safetensors *f;
    assert_int_equal(mc_model_load(&l, path, &f, &e), MC_OK);
    assert_string_equal(mc_safetensors_meta(f, "moesuite.trained_on"), "unit test");
    assert_string_equal(mc_model_arch(l), mc_model_arch(m));
    assert_non_null(mc_safetensors_find(f, "1.batchnorm.running_var"));
    assert_non_null(mc_safetensors_find(f, "5.moe.selection_bias"));
    mc_safetensors_close(f);
    assert_int_equal(mc_model_forward(l, x, 2, 0, NULL, &out), MC_OK);
    assert_memory_equal(out, ref, sizeof ref);
    mc_model_destroy(l);

    /* a file whose tensor disagrees with its architecture is refused */
    mc_safetensors *orig;
    assert_int_equal(mc_safetensors_open(&orig, path, &e), MC_OK);
    int n = mc_safetensors_count(orig);
    mc_st_tensor t[32];
    mc_st_meta mm[2] = {{"moesuite.arch", mc_safetensors_meta(orig, "moesuite.arch")}, {"moesuite.format", "1"}};
    int k = 0;
    for (int i = 0; i < n; i++) {
        t[k] = *mc_safetensors_at(orig, i);
        if (strcmp(t[k].name, "6.linear.bias") == 0) continue; /* drop one tensor */
        k++;
    }
    char bad[600];
    snprintf(bad, sizeof bad, "%s.bad", path);
    assert_int_equal(mc_safetensors_save(bad, t, k, mm, 2, &e), MC_OK);
    assert_int_equal(mc_model_load(&l, bad, NULL, &e), MC_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "'6.linear.bias' is missing"));
    mc_st_meta no_arch = {"other", "x"};
    assert_int_equal(mc_safetensors_save(bad, t, k, &no_arch, 1, &e), MC_OK);
    assert_int_equal(mc_model_load(&l, bad, NULL, &e), MC_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "not a moesuite model"));
    /* a model whose weights hold a NaN (a diverged training) is refused at load, naming the tensor */
    k = 0;
    float poisoned[64];
    for (int i = 0; i < n; i++) {
        t[k] = *mc_safetensors_at(orig, i);
        if (strcmp(t[k].name, "6.linear.bias") == 0) {
            assert_true(t[k].nbytes <= sizeof poisoned);
            memcpy(poisoned, t[k].data, t[k].nbytes);
            poisoned[1] = NAN;
            t[k].data = poisoned;
        }
        k++;
    }
    assert_int_equal(mc_safetensors_save(bad, t, k, mm, 2, &e), MC_OK);
    l = (mc_model *)&l;
    assert_int_equal(mc_model_load(&l, bad, NULL, &e), MC_ERR_FORMAT);
    assert_null(l);
    assert_non_null(strstr(e.msg, bad));
    assert_non_null(strstr(e.msg, "tensor '6.linear.bias': element 1 is NaN"));
    mc_safetensors_close(orig);
    unlink(bad);
    unlink(path);
    mc_rng_destroy(rng);
    mc_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_architecture_errors),
        cmocka_unit_test(test_cnn_gradients),
        cmocka_unit_test(test_blocked_run_gradients),
        cmocka_unit_test(test_sequence_and_moe_gradients),
        cmocka_unit_test(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
