/* test_train.c: training actually learns. An MoE regressor fits a piecewise-linear function that a
 * dense network of the same active size cannot, with experts specialising by region; a small conv
 * net learns a toy image task; resume from a checkpoint reproduces the loss curve exactly; early
 * stopping keeps the best epoch; FGSM/PGD examples raise the loss within their budget; the model
 * file round-trips. */
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

#include "moecore/train.h"

static const char *tmpdir(void) { return getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp"; }

/* ---- the piecewise task: x in [-1, 1]^4; in each quadrant q of (x0, x1) another function,
 * y = A_q . x + c_q + sin(w_q x2 + x3), which one small expert fits but one network of the same size
 * must share between four ------------------------------------------------------------------------- */

typedef struct {
    float *x, *y;
    int n;
} data;

static float A[4][4], c0[4], wq[4];

static int quadrant(const float *x) { return (x[0] > 0) * 2 + (x[1] > 0); }

static data piecewise(int n, mc_rng *rng) {
    data d = {malloc(sizeof(float) * 4 * (size_t)n), malloc(sizeof(float) * (size_t)n), n};
    for (int i = 0; i < n; i++) {
        float *x = d.x + 4 * i;
        for (int j = 0; j < 4; j++) x[j] = (float)(2 * mc_rng_uniform(rng) - 1);
        int q = quadrant(x);
        d.y[i] = c0[q] + sinf(wq[q] * x[2] + x[3]);
        for (int j = 0; j < 4; j++) d.y[i] += A[q][j] * x[j];
    }
    return d;
}

static mc_model *build(const char *arch, uint64_t seed) {
    mc_model *m;
    mc_error e;
    if (mc_model_create(&m, arch, &e) != MC_OK) fail_msg("%s", e.msg);
    mc_rng *r = mc_rng_create(seed);
    mc_model_init(m, r);
    mc_rng_destroy(r);
    return m;
}

/* Mutual information in bits between the quadrant of a sample and the expert its first MoE layer
 * chooses (top-1), over d, in evaluation mode. */
static double routing_information(mc_model *m, const data *d) {
    double joint[4][4] = {{0}}, pq[4] = {0}, pe[4] = {0};
    const float *out;
    mc_moe *layer = mc_model_moe(m, 0);
    for (int i = 0; i < d->n; i++) {
        assert_int_equal(mc_model_forward(m, d->x + 4 * i, 1, 0, NULL, &out), MC_OK);
        const mc_moe_stats *s = mc_moe_get_stats(layer);
        for (int e = 0; e < 4; e++)
            if (s->load[e]) joint[quadrant(d->x + 4 * i)][e] += 1.0 / d->n;
    }
    for (int q = 0; q < 4; q++)
        for (int e = 0; e < 4; e++) {
            pq[q] += joint[q][e];
            pe[e] += joint[q][e];
        }
    double mi = 0.0;
    for (int q = 0; q < 4; q++)
        for (int e = 0; e < 4; e++)
            if (joint[q][e] > 0) mi += joint[q][e] * log2(joint[q][e] / (pq[q] * pe[e]));
    return mi;
}

static void test_moe_beats_dense(void **state) {
    (void)state;
    mc_rng *rng = mc_rng_create(7);
    for (int q = 0; q < 4; q++) {
        c0[q] = (float)(2 * mc_rng_uniform(rng) - 1);
        wq[q] = (float)(q % 2 ? 3.0 : -3.0) * (float)(1 + q / 2);
        for (int j = 0; j < 4; j++) A[q][j] = (float)(4 * mc_rng_uniform(rng) - 2);
    }
    data tr = piecewise(4000, rng), va = piecewise(1000, rng);
    mc_rng_destroy(rng);
    /* same active size: one expert of 16 hidden units per token against a dense MLP of 16 */
    const char *moe = "{\"input\":[4],\"layers\":[{\"type\":\"moe\",\"d_ff\":16,\"experts\":4,\"top_k\":1,"
                      "\"norm_topk\":false,\"act\":\"relu\",\"aux_alpha\":0.01},{\"type\":\"linear\",\"out\":1}]}";
    const char *dense = "{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":16},{\"type\":\"act\",\"fn\":\"relu\"},"
                        "{\"type\":\"linear\",\"out\":1}]}";
    mc_train_config cfg;
    mc_train_config_default(&cfg);
    cfg.epochs = 100;
    cfg.batch = 32;
    cfg.lr = 1e-2f;
    cfg.min_lr = 1e-4f;
    cfg.weight_decay = 0.0f;
    mc_dataset dtr = {tr.x, tr.y, tr.n, 1, NULL}, dva = {va.x, va.y, va.n, 1, NULL};
    mc_train_result r1, r2;
    mc_model *mm = build(moe, 1), *md = build(dense, 1);
    double mi0 = routing_information(mm, &va);
    mc_error e;
    assert_int_equal(mc_train(mm, &cfg, &dtr, &dva, &r1, &e), MC_OK);
    assert_int_equal(mc_train(md, &cfg, &dtr, &dva, &r2, &e), MC_OK);
    double moe_val = r1.val_loss[r1.epochs_run - 1], dense_val = r2.val_loss[r2.epochs_run - 1];
    printf("held-out MSE: moe %.4f dense %.4f\n", moe_val, dense_val);
    assert_true(moe_val < 0.5 * dense_val);
    /* specialisation: the routing carries information about the region; the mutual information
     * between quadrant and chosen expert (at most 2 bits) grows well beyond the random router's */
    double mi = routing_information(mm, &va);
    printf("quadrant-expert mutual information: %.2f bits at initialisation, %.2f bits trained\n", mi0, mi);
    assert_true(mi > 0.8);
    assert_true(mi > mi0 + 0.4);
    mc_model_destroy(mm);
    mc_model_destroy(md);
    free(tr.x); free(tr.y); free(va.x); free(va.y);
}

/* ---- a toy image task: 8x8 images with a horizontal or a vertical bar ------------------------------ */

static void bars(int n, float *x, float *y, mc_rng *rng) {
    for (int i = 0; i < n; i++) {
        float *img = x + 64 * i;
        int vertical = (int)mc_rng_below(rng, 2), at = (int)mc_rng_below(rng, 8);
        for (int p = 0; p < 64; p++) img[p] = (float)(0.3 * mc_rng_normal(rng));
        for (int k = 0; k < 8; k++) img[vertical ? k * 8 + at : at * 8 + k] += 1.0f;
        y[i] = (float)vertical;
    }
}

static void test_conv_net_learns(void **state) {
    (void)state;
    const char *arch = "{\"input\":[1,8,8],\"layers\":[{\"type\":\"conv\",\"out\":8,\"k\":3,\"pad\":1},"
                       "{\"type\":\"batchnorm\"},{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"se\",\"reduction\":2},"
                       "{\"type\":\"maxpool\",\"k\":2},{\"type\":\"conv\",\"out\":8,\"k\":3,\"pad\":1},"
                       "{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"globalavgpool\"},{\"type\":\"linear\",\"out\":2}]}";
    mc_rng *rng = mc_rng_create(3);
    int n = 800, nv = 200;
    float *x = malloc(sizeof(float) * 64 * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    float *xv = malloc(sizeof(float) * 64 * (size_t)nv), *yv = malloc(sizeof(float) * (size_t)nv);
    bars(n, x, y, rng);
    bars(nv, xv, yv, rng);
    mc_rng_destroy(rng);
    mc_model *m = build(arch, 2);
    mc_train_config cfg;
    mc_train_config_default(&cfg);
    cfg.loss = MC_LOSS_CE;
    cfg.epochs = 8;
    cfg.batch = 32;
    cfg.lr = 1e-2f;
    mc_dataset d = {x, y, n, 1, NULL};
    mc_train_result r;
    mc_error e;
    assert_int_equal(mc_train(m, &cfg, &d, NULL, &r, &e), MC_OK);
    int correct = 0;
    const float *out;
    assert_int_equal(mc_model_forward(m, xv, nv, 0, NULL, &out), MC_OK);
    for (int i = 0; i < nv; i++) correct += (out[2 * i + 1] > out[2 * i]) == (yv[i] > 0.5f);
    printf("bars: %d of %d correct, loss %.3f -> %.3f\n", correct, nv, r.train_loss[0], r.train_loss[r.epochs_run - 1]);
    assert_true(correct >= 0.95 * nv);
    assert_true(r.train_loss[r.epochs_run - 1] < 0.5 * r.train_loss[0]);
    mc_model_destroy(m);
    free(x); free(y); free(xv); free(yv);
}

/* ---- checkpoint and exact resume -------------------------------------------------------------------- */

static const char *small_moe = "{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":8},{\"type\":\"layernorm\"},"
                               "{\"type\":\"moe\",\"d_ff\":8,\"experts\":4,\"top_k\":2,\"shared\":1,\"balance\":\"bias\","
                               "\"noise\":0.1},{\"type\":\"dropout\",\"p\":0.1},{\"type\":\"linear\",\"out\":1}]}";

static int stop_after_3(void *user, int epoch, double tl, double vl, float lr) {
    (void)user; (void)tl; (void)vl; (void)lr;
    return epoch == 2;
}

static void test_resume_is_exact(void **state) {
    (void)state;
    mc_rng *rng = mc_rng_create(11);
    data tr = piecewise(300, rng), va = piecewise(100, rng);
    mc_rng_destroy(rng);
    /* validation targets of opposite sign: the better the model fits, the worse it validates, so the
     * best epoch is the first, before the interruption, and must come back from the checkpoint */
    for (int i = 0; i < va.n; i++) va.y[i] = -va.y[i];
    mc_dataset dtr = {tr.x, tr.y, tr.n, 1, NULL}, dva = {va.x, va.y, va.n, 1, NULL};
    char ck[512];
    snprintf(ck, sizeof ck, "%s/resume-%ld.safetensors", tmpdir(), (long)getpid());
    unlink(ck);
    mc_train_config cfg;
    mc_train_config_default(&cfg);
    cfg.epochs = 6;
    cfg.batch = 16;
    cfg.patience = 100; /* keeps a best-epoch snapshot (with the MoE selection biases) to restore at the end */
    mc_train_result a, b, c;
    mc_error e;

    mc_model *straight = build(small_moe, 5);
    assert_int_equal(mc_train(straight, &cfg, &dtr, &dva, &a, &e), MC_OK);
    assert_int_equal(a.epochs_run, 6);

    /* the same run stopped after 3 epochs (as if killed), then resumed into a fresh model */
    cfg.checkpoint = ck;
    cfg.resume = 1;
    cfg.on_epoch = stop_after_3;
    mc_model *first = build(small_moe, 5);
    assert_int_equal(mc_train(first, &cfg, &dtr, &dva, &b, &e), MC_OK);
    assert_int_equal(b.epochs_run, 3);
    mc_model_destroy(first);
    cfg.on_epoch = NULL;
    mc_model *second = build(small_moe, 99); /* different initial weights: all must come from the checkpoint */
    assert_int_equal(mc_train(second, &cfg, &dtr, &dva, &c, &e), MC_OK);
    assert_int_equal(c.resumed_from, 3);
    assert_int_equal(c.epochs_run, 6);
    for (int i = 0; i < 6; i++) {
        assert_true(a.train_loss[i] == c.train_loss[i]); /* bit for bit */
        assert_true(a.val_loss[i] == c.val_loss[i]);
    }
    assert_memory_equal(mc_model_params(straight), mc_model_params(second), sizeof(float) * (size_t)mc_model_num_params(straight));
    assert_int_equal(a.best_epoch, 0);
    assert_int_equal(c.best_epoch, 0);
    double loss_a, loss_c;
    assert_int_equal(mc_evaluate(straight, &cfg, &dva, &loss_a), MC_OK);
    assert_int_equal(mc_evaluate(second, &cfg, &dva, &loss_c), MC_OK);
    assert_true(loss_a == loss_c); /* the restored best model, selection biases included, is the same */

    /* the checkpoint is a model file too (the last epoch's model; the best one is in CHECKPOINT.best) */
    mc_model *loaded;
    assert_int_equal(mc_model_load(&loaded, ck, NULL, &e), MC_OK);
    assert_memory_not_equal(mc_model_params(loaded), mc_model_params(second), sizeof(float) * (size_t)mc_model_num_params(loaded));
    mc_model_destroy(loaded);
    mc_model_destroy(straight);
    mc_model_destroy(second);
    unlink(ck);
    char best[600];
    snprintf(best, sizeof best, "%s.best", ck);
    assert_int_equal(unlink(best), 0); /* the best-epoch model was written beside the checkpoint */
    free(tr.x); free(tr.y); free(va.x); free(va.y);
}

static void test_early_stopping_keeps_best(void **state) {
    (void)state;
    mc_rng *rng = mc_rng_create(12);
    data tr = piecewise(60, rng), va = piecewise(200, rng);
    mc_rng_destroy(rng);
    mc_dataset dtr = {tr.x, tr.y, tr.n, 1, NULL}, dva = {va.x, va.y, va.n, 1, NULL};
    /* a large network on 60 samples overfits: validation loss turns up and training stops */
    const char *big = "{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":128},{\"type\":\"act\",\"fn\":\"relu\"},"
                      "{\"type\":\"linear\",\"out\":128},{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"linear\",\"out\":1}]}";
    mc_model *m = build(big, 4);
    mc_train_config cfg;
    mc_train_config_default(&cfg);
    cfg.epochs = 300;
    cfg.batch = 10;
    cfg.lr = 3e-3f;
    cfg.weight_decay = 0.0f;
    cfg.patience = 10;
    mc_train_result r;
    mc_error e;
    assert_int_equal(mc_train(m, &cfg, &dtr, &dva, &r, &e), MC_OK);
    assert_true(r.stopped_early);
    assert_int_equal(r.epochs_run, r.best_epoch + 1 + cfg.patience);
    double best = INFINITY;
    for (int i = 0; i < r.epochs_run; i++) best = fmin(best, r.val_loss[i]);
    assert_true(best == r.best_val);
    double now;
    assert_int_equal(mc_evaluate(m, &cfg, &dva, &now), MC_OK);
    assert_true(fabs(now - r.best_val) < 1e-9 * (1 + r.best_val)); /* the model holds the best epoch */
    mc_model_destroy(m);
    free(tr.x); free(tr.y); free(va.x); free(va.y);
}

static void test_adversarial_examples(void **state) {
    (void)state;
    mc_rng *rng = mc_rng_create(13);
    data tr = piecewise(64, rng);
    const char *arch = "{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":16},{\"type\":\"act\",\"fn\":\"tanh\"},"
                       "{\"type\":\"linear\",\"out\":1}]}";
    mc_model *m = build(arch, 6);
    mc_train_config cfg;
    mc_train_config_default(&cfg);
    mc_dataset d = {tr.x, tr.y, tr.n, 1, NULL};
    double clean, fgsm, pgd;
    float *xadv = malloc(sizeof(float) * 4 * 64);
    assert_int_equal(mc_evaluate(m, &cfg, &d, &clean), MC_OK);
    for (int steps = 1; steps <= 5; steps += 4) {
        cfg.adv_steps = steps;
        cfg.adv_eps = 0.1f;
        cfg.adv_alpha = 0.03f;
        assert_int_equal(mc_adversarial(m, &cfg, tr.x, tr.y, 64, 1, xadv, rng), MC_OK);
        float worst = 0.0f;
        for (int i = 0; i < 4 * 64; i++) worst = fmaxf(worst, fabsf(xadv[i] - tr.x[i]));
        assert_true(worst <= 0.1f + 1e-6f);
        if (steps == 1) assert_true(worst >= 0.1f - 1e-6f); /* FGSM moves every input by exactly eps */
        mc_dataset da = {xadv, tr.y, tr.n, 1, NULL};
        assert_int_equal(mc_evaluate(m, &cfg, &da, steps == 1 ? &fgsm : &pgd), MC_OK);
    }
    assert_true(fgsm > clean);
    assert_true(pgd >= fgsm * 0.999);
    /* training with adversarial examples runs and learns */
    cfg.adv_steps = 1;
    cfg.adv_weight = 0.5f;
    cfg.epochs = 5;
    cfg.batch = 16;
    mc_train_result r;
    mc_error e;
    assert_int_equal(mc_train(m, &cfg, &d, NULL, &r, &e), MC_OK);
    assert_true(r.train_loss[4] < r.train_loss[0]);
    mc_rng_destroy(rng);
    mc_model_destroy(m);
    free(xadv);
    free(tr.x); free(tr.y);
}

static void test_curriculum_and_mixing(void **state) {
    (void)state;
    assert_int_equal(mc_curriculum_count(0.25f, 4, 0, 100), 25);
    assert_int_equal(mc_curriculum_count(0.25f, 4, 2, 100), 63); /* ceil((0.25 + 0.75 * 2/4) * 100) */
    assert_int_equal(mc_curriculum_count(0.25f, 4, 4, 100), 100);
    assert_int_equal(mc_curriculum_count(0.0f, 4, 0, 100), 100);
    /* a curriculum run over data ordered by difficulty, mixed 3:1 with a general source */
    mc_rng *rng = mc_rng_create(14);
    data tr = piecewise(200, rng), gen = piecewise(100, rng);
    mc_rng_destroy(rng);
    float diff[200];
    for (int i = 0; i < 200; i++) diff[i] = fabsf(tr.y[i]);
    mc_dataset d = {tr.x, tr.y, tr.n, 1, diff}, g = {gen.x, gen.y, gen.n, 1, NULL};
    mc_model *m = build("{\"input\":[4],\"layers\":[{\"type\":\"linear\",\"out\":1}]}", 1);
    mc_train_config cfg;
    mc_train_config_default(&cfg);
    cfg.epochs = 4;
    cfg.curriculum_start = 0.25f;
    cfg.curriculum_epochs = 2;
    cfg.general = &g;
    cfg.mix_ratio = 3.0f;
    mc_train_result r;
    mc_error e;
    assert_int_equal(mc_train(m, &cfg, &d, NULL, &r, &e), MC_OK);
    assert_int_equal(r.epochs_run, 4);
    for (int i = 0; i < 4; i++) assert_true(isfinite(r.train_loss[i]));
    /* bad configurations are refused with a message */
    mc_dataset bad = {tr.x, tr.y, tr.n, 2, NULL};
    assert_int_equal(mc_train(m, &cfg, &bad, NULL, &r, &e), MC_ERR_ARG);
    assert_non_null(strstr(e.msg, "target values"));
    mc_model_destroy(m);
    free(tr.x); free(tr.y); free(gen.x); free(gen.y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moe_beats_dense),
        cmocka_unit_test(test_conv_net_learns),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_early_stopping_keeps_best),
        cmocka_unit_test(test_adversarial_examples),
        cmocka_unit_test(test_curriculum_and_mixing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
