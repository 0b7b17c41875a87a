/* test_tune_ppo.c: the PPO learner of moe-factory tune: trained on drifting injection-moulding
 * episodes it keeps a higher true yield than the fixed recipe over whole drift scenarios it never
 * saw; a 1-D bandit it must solve; and the policy file (safetensors with the observation
 * normalisation in its metadata) reloads to the same actions and rejects a plain model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "moecore/model.h"
#include "tune/ppo.h"
#include "tune/process_sim.h"

static char tmp_path[512];

static const char *tmp_file(const char *name) {
    const char *dir = getenv("MC_TEST_TMP");
    snprintf(tmp_path, sizeof tmp_path, "%s/%s", dir ? dir : "/tmp", name);
    return tmp_path;
}

/* Mean true yield over a 200-batch drift scenario from the reference state; learner NULL keeps the
 * fixed recipe. The drift generator is the same for both, so they meet the same lots. */
static double scenario_yield(fab_ppo *learner, uint64_t seed) {
    fab_tune_env e = {0};
    fab_process_init(&e.proc, FAB_PROCESS_MOULDING, 1);
    e.horizon = 200;
    mc_rng *noise = mc_rng_create(seed), *drift = mc_rng_create(seed + 1000);
    e.drift_rng = drift;
    float obs[32], act[FAB_MAX_PARAMS] = {0};
    int done = 0;
    double sum = 0;
    fab_tune_env_reset(&e, noise, obs);
    while (!done) {
        if (learner) assert_int_equal(fab_ppo_act(learner, obs, 1, NULL, act), MC_OK);
        fab_tune_env_step(&e, act, noise, obs, &done);
        sum += e.true_objective;
    }
    mc_rng_destroy(noise);
    mc_rng_destroy(drift);
    return sum / e.horizon;
}

static fab_ppo *trained;

static void test_ppo_beats_fixed_under_drift(void **state) {
    (void)state;
    fab_tune_env e = {0};
    fab_process_init(&e.proc, FAB_PROCESS_MOULDING, 1);
    e.horizon = 64;
    e.start_wear = 0.9;
    fab_ppo_config cfg;
    fab_ppo_config_default(&cfg);
    mc_rng *rng = mc_rng_create(1);
    mc_error err;
    int od = fab_tune_env_obs_dim(&e);
    assert_int_equal(fab_ppo_create(&trained, od, e.proc.n_params, &cfg, rng, &err), MC_OK);
    fab_ppo_env env = {&e, od, e.proc.n_params, fab_tune_env_reset, fab_tune_env_step};
    assert_int_equal(fab_ppo_learn(trained, &env, 102400, rng, NULL, NULL, &err), MC_OK);
    double fixed = 0, ppo = 0;
    for (uint64_t s = 100; s < 104; s++) {
        double f = scenario_yield(NULL, s), p = scenario_yield(trained, s);
        printf("scenario %d: fixed %.4f ppo %.4f\n", (int)s, f, p);
        fixed += f / 4;
        ppo += p / 4;
    }
    /* measured: 0.753 for the fixed recipe and 0.858 for PPO on these scenarios */
    assert_true(fixed > 0.6 && fixed < 0.85);
    assert_true(ppo > fixed + 0.05);
    mc_rng_destroy(rng);
}

static void test_policy_file(void **state) {
    (void)state;
    assert_non_null(trained);
    mc_error err;
    mc_st_meta meta[] = {{"moesuite.process", "moulding"}};
    const char *path = tmp_file("tune_policy.safetensors");
    assert_int_equal(fab_ppo_save(trained, path, meta, 1, &err), MC_OK);
    fab_ppo *back;
    assert_int_equal(fab_ppo_load(&back, path, &err), MC_OK);
    /* the observation statistics travel in the metadata: identical actions on raw observations */
    mc_rng *r = mc_rng_create(5);
    for (int k = 0; k < 50; k++) {
        float obs[13], a1[5], a2[5];
        for (int i = 0; i < 13; i++) obs[i] = (float)(2 * mc_rng_normal(r));
        assert_int_equal(fab_ppo_act(trained, obs, 1, NULL, a1), MC_OK);
        assert_int_equal(fab_ppo_act(back, obs, 1, NULL, a2), MC_OK);
        assert_memory_equal(a1, a2, sizeof a1);
        for (int i = 0; i < 5; i++) assert_true(a1[i] >= -1 && a1[i] <= 1);
    }
    for (int i = 0; i < 5; i++) assert_true(fab_ppo_action_std(back, i) == fab_ppo_action_std(trained, i));
    assert_true(fabs(scenario_yield(back, 100) - scenario_yield(trained, 100)) < 1e-12);
    mc_safetensors *f;
    assert_int_equal(mc_safetensors_open(&f, path, &err), MC_OK);
    const char *mean = mc_safetensors_meta(f, "moesuite.obs_mean");
    assert_non_null(mean);
    assert_true(mean[0] == '[' && strchr(mean, ']'));
    assert_string_equal(mc_safetensors_meta(f, "moesuite.process"), "moulding");
    mc_safetensors_close(f);
    fab_ppo_destroy(back);
    mc_rng_destroy(r);

    /* a plain network is not a policy */
    mc_model *m;
    assert_int_equal(mc_model_create(&m, "{\"input\":[13],\"layers\":[{\"type\":\"linear\",\"out\":5}]}", &err), MC_OK);
    const char *plain = tmp_file("tune_plain.safetensors");
    assert_int_equal(mc_model_save(m, plain, NULL, 0, NULL, 0, &err), MC_OK);
    mc_model_destroy(m);
    assert_int_equal(fab_ppo_load(&back, plain, &err), MC_ERR_FORMAT);
    assert_null(back);
    assert_non_null(strstr(err.msg, "not a PPO policy"));
    fab_ppo_destroy(trained);
}

/* A one-step bandit: reward -(a0 - 0.3)^2 - (a1 + 0.2)^2. The mean action must move to (0.3, -0.2)
 * (away from the clipping at +-1, which biases the mean while the spread is wide). */
typedef struct bandit {
    int t;
} bandit;

static void bandit_reset(void *user, mc_rng *rng, float *obs) {
    (void)rng;
    ((bandit *)user)->t = 0;
    obs[0] = 1;
}

static double bandit_step(void *user, const float *a, mc_rng *rng, float *obs, int *done) {
    (void)user;
    (void)rng;
    obs[0] = 1;
    *done = 1;
    return -((a[0] - 0.3) * (a[0] - 0.3) + (a[1] + 0.2) * (a[1] + 0.2));
}

static void test_bandit(void **state) {
    (void)state;
    bandit b = {0};
    fab_ppo_env env = {&b, 1, 2, bandit_reset, bandit_step};
    fab_ppo_config cfg;
    fab_ppo_config_default(&cfg);
    mc_rng *rng = mc_rng_create(2);
    mc_error err;
    fab_ppo *a;
    assert_int_equal(fab_ppo_create(&a, 1, 2, &cfg, rng, &err), MC_OK);
    float obs[1] = {1}, act[2];
    assert_int_equal(fab_ppo_act(a, obs, 1, NULL, act), MC_OK);
    assert_true(fabs(act[0]) < 0.1 && fabs(act[1]) < 0.1); /* the action head starts near 0 */
    assert_int_equal(fab_ppo_learn(a, &env, 40960, rng, NULL, NULL, &err), MC_OK);
    assert_int_equal(fab_ppo_act(a, obs, 1, NULL, act), MC_OK);
    printf("bandit: mean action (%.3f, %.3f), std (%.3f, %.3f)\n", act[0], act[1], fab_ppo_action_std(a, 0),
           fab_ppo_action_std(a, 1));
    assert_true(fabs(act[0] - 0.3) < 0.1);
    assert_true(fabs(act[1] + 0.2) < 0.1);
    assert_true(fab_ppo_action_std(a, 0) < 0.7 && fab_ppo_action_std(a, 1) < 0.7); /* exploration shrinks once the optimum is found */
    fab_ppo_destroy(a);
    mc_rng_destroy(rng);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bandit),
        cmocka_unit_test(test_ppo_beats_fixed_under_drift),
        cmocka_unit_test(test_policy_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
