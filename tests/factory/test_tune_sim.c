/* test_tune_sim.c: the process simulators of moe-factory tune against hand-worked points of the
 * equations in docs/factory.md (computed independently with Python's math module), the reactor's
 * closed-form best reaction time, drift and noise determinism, the dense optimum search, and the
 * tuning environment's step rules. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tune/process_sim.h"

static void expect_outputs(const fab_process *p, const double *x, const double *want, double tol) {
    double out[FAB_MAX_OUTPUTS];
    fab_process_outcome(p, x, out);
    for (int j = 0; j < p->n_outputs; j++) {
        if (fabs(out[j] - want[j]) > tol * fmax(1.0, fabs(want[j])))
            fail_msg("%s output %s: got %.15g, want %.15g", fab_process_name(p->kind), p->output_names[j], out[j], want[j]);
    }
}

static void test_moulding_points(void **state) {
    (void)state;
    fab_process p;
    fab_process_init(&p, FAB_PROCESS_MOULDING, 0);
    assert_int_equal(p.n_params, 5);
    assert_int_equal(p.n_outputs, 8);
    /* M1: the fixed recipe in the reference state */
    const double m1[] = {0.950934834980542, 0.0356947396065568, 0.012718422658192, 0.01388836647368,
                         0.00887433882532799, 0.000599999999999934, 0.0354487381534175, 29.9423982869379};
    expect_outputs(&p, p.nominal, m1, 1e-12);
    /* M3: a cycle over the takt time, flash from wear, a lot with lower viscosity and more shrinkage */
    p.wear = 0.2;
    p.lot[0] = -3;
    p.lot[1] = 0.02;
    const double x3[] = {240, 100, 6, 24, 45};
    const double m3[] = {0.185077733403257, 0.25048498980585, 0.00106659061592271, 0.236150005828463,
                         0.0129757146909798, -0.074, 0.0942259965244447, 32.6};
    expect_outputs(&p, x3, m3, 1e-12);
    /* M2: a worn tool and high pressure: nearly every part flashes */
    p.wear = 0.5;
    p.lot[0] = 4;
    p.lot[1] = -0.03;
    const double x2[] = {250, 120, 4, 12, 70};
    const double m2[] = {3.91288565197479e-15, 0.999999999999898, 9.18108345952122e-07, 0.999050022137737,
                         0.000909752347852084, 0.43, 0.541565080074215, 18.5};
    expect_outputs(&p, x2, m2, 1e-9);
    /* M4: reference state, shrinkage far off target and a long cycle */
    p.wear = 0;
    p.lot[0] = p.lot[1] = 0;
    const double x4[] = {230, 110, 9, 25, 60};
    const double m4[] = {0.0111399725088167, 0.0586497855411913, 0.00323847445470431, 0.0532555684848335,
                         0.00206207892390197, -0.305, 0.323673196789948, 36.5454545454545};
    expect_outputs(&p, x4, m4, 1e-12);
}

static void test_reactor_points(void **state) {
    (void)state;
    fab_process p;
    fab_process_init(&p, FAB_PROCESS_REACTOR, 0);
    assert_int_equal(p.n_params, 4);
    const double r1[] = {0.690405508595038, 0.845405508595038, 0.947171187695305, 0.0828222553463607, 1.13103790365936};
    expect_outputs(&p, p.nominal, r1, 1e-12);
    /* R3: hot, much catalyst: the runaway penalty */
    const double x3[] = {385, 3, 2, 2.5};
    const double r3[] = {-1.52153217040567, 0.127190582321015, 0.999999999999934, 0.85280941767892, 10.1186137636334};
    expect_outputs(&p, x3, r3, 1e-12);
    p.wear = 0.4;
    p.lot[0] = 0.1;
    p.lot[1] = -0.01;
    const double x2[] = {370, 1.0, 0.5, 2.0};
    const double r2[] = {0.485703990132841, 0.570703990132841, 0.670801729553527, 0.079973687534081, 1.11109506400082};
    expect_outputs(&p, x2, r2, 1e-12);
}

/* A -> B -> C: the yield of B peaks at t* = ln(k1 / k2) / (k1 - k2) = 2.87736 h at 352 K, 1.6 %, 1.5. */
static void test_reactor_best_time(void **state) {
    (void)state;
    fab_process p;
    fab_process_init(&p, FAB_PROCESS_REACTOR, 0);
    double best_t = 0, best = -1, out[FAB_MAX_OUTPUTS];
    for (double t = 0.2; t <= 6; t += 1e-4) {
        double x[] = {352, t, 1.6, 1.5};
        fab_process_outcome(&p, x, out);
        if (out[1] > best) {
            best = out[1];
            best_t = t;
        }
    }
    assert_true(fabs(best_t - 2.877357333419424) < 2e-4);
}

static void test_drift_and_noise(void **state) {
    (void)state;
    fab_process a, b, s;
    fab_process_init(&a, FAB_PROCESS_MOULDING, 1);
    fab_process_init(&b, FAB_PROCESS_MOULDING, 1);
    fab_process_init(&s, FAB_PROCESS_MOULDING, 0);
    mc_rng *ra = mc_rng_create(7), *rb = mc_rng_create(7);
    for (int t = 0; t < 60; t++) {
        fab_process_advance(&a, ra);
        fab_process_advance(&b, rb);
        fab_process_advance(&s, ra);
    }
    /* wear grows by 1/200 per batch; lots change every 25 batches, drawn from the generator */
    assert_true(fabs(a.wear - 60.0 / 200) < 1e-12);
    assert_true(a.lot[0] != 0 && a.lot[0] == b.lot[0] && a.lot[1] == b.lot[1]);
    assert_true(s.wear == 0 && s.lot[0] == 0 && s.batch == 0);
    double o1[FAB_MAX_OUTPUTS], o2[FAB_MAX_OUTPUTS], clean[FAB_MAX_OUTPUTS];
    fab_process_observe(&a, a.nominal, ra, o1);
    fab_process_observe(&b, b.nominal, rb, o2);
    assert_memory_equal(o1, o2, sizeof(double) * (size_t)a.n_outputs);
    /* the measured yield scatters about the true one with standard deviation 0.01 */
    fab_process_outcome(&a, a.nominal, clean);
    double sum = 0, sq = 0;
    for (int k = 0; k < 4000; k++) {
        fab_process_observe(&a, a.nominal, ra, o1);
        sum += o1[0] - clean[0];
        sq += (o1[0] - clean[0]) * (o1[0] - clean[0]);
    }
    double mean = sum / 4000, sd = sqrt(sq / 4000 - mean * mean);
    assert_true(fabs(mean) < 0.001);
    assert_true(fabs(sd - 0.01) < 0.001);
    mc_rng_destroy(ra);
    mc_rng_destroy(rb);
}

/* The dense search finds the optimum that a fine random search cannot beat, and it moves with wear. */
static void test_optimum(void **state) {
    (void)state;
    for (int k = 0; k < FAB_PROCESS_COUNT; k++) {
        fab_process p;
        fab_process_init(&p, (fab_process_kind)k, 0);
        double x[FAB_MAX_PARAMS], out[FAB_MAX_OUTPUTS];
        double f = fab_process_optimum(&p, 9, NULL, x);
        fab_process_outcome(&p, x, out);
        assert_true(out[0] == f);
        /* the fixed recipe is the reference state's optimum to within 0.1% */
        fab_process_outcome(&p, p.nominal, out);
        assert_true(out[0] > f - 1e-3 * fabs(f) && out[0] <= f + 1e-9);
        mc_rng *r = mc_rng_create(3);
        for (int n = 0; n < 20000; n++) {
            double y[FAB_MAX_PARAMS];
            for (int i = 0; i < p.n_params; i++) {
                double w = 0.05 * (p.hi[i] - p.lo[i]);
                y[i] = x[i] + w * (2 * mc_rng_uniform(r) - 1);
            }
            fab_process_clip(&p, y);
            fab_process_outcome(&p, y, out);
            assert_true(out[0] <= f + 1e-9);
        }
        mc_rng_destroy(r);
        /* a worn tool or aged catalyst lowers the optimum and moves it */
        double xw[FAB_MAX_PARAMS];
        p.wear = 0.8;
        double fw = fab_process_optimum(&p, 9, NULL, xw);
        assert_true(fw < f);
        double moved = 0;
        for (int i = 0; i < p.n_params; i++) moved = fmax(moved, fabs(xw[i] - x[i]) / (p.hi[i] - p.lo[i]));
        assert_true(moved > 0.01);
    }
}

/* The environment: actions move the recipe by at most max_step, never out of bounds; the
 * observation carries the scaled recipe and the measured outcomes. */
static void test_env(void **state) {
    (void)state;
    fab_tune_env e = {0};
    fab_process_init(&e.proc, FAB_PROCESS_MOULDING, 1);
    e.horizon = 5;
    mc_rng *r = mc_rng_create(11);
    float obs[32];
    assert_int_equal(fab_tune_env_obs_dim(&e), 13);
    fab_tune_env_reset(&e, r, obs);
    for (int i = 0; i < 5; i++) {
        double want = 2 * (e.proc.nominal[i] - e.proc.lo[i]) / (e.proc.hi[i] - e.proc.lo[i]) - 1;
        assert_true(fabs(obs[i] - want) < 1e-6);
    }
    const float up[] = {5, 1, -0.5, 0, 1};
    int done = 0, steps = 0;
    double before[FAB_MAX_PARAMS];
    while (!done) {
        memcpy(before, e.x, sizeof before);
        double reward = fab_tune_env_step(&e, up, r, obs, &done);
        steps++;
        assert_true(fabs(e.x[0] - fmin(e.proc.hi[0], before[0] + e.proc.max_step[0])) < 1e-12); /* clipped action */
        assert_true(fabs(e.x[2] - (before[2] - 0.5 * e.proc.max_step[2])) < 1e-12);
        assert_true(e.x[3] == before[3]);
        assert_true(reward == e.last[0] && obs[5] == (float)e.last[0]);
        assert_true(fabs(reward - e.true_objective) < 0.06);
    }
    assert_int_equal(steps, 5);
    assert_int_equal((int)e.proc.batch, 5);
    mc_rng_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moulding_points), cmocka_unit_test(test_reactor_points),
        cmocka_unit_test(test_reactor_best_time), cmocka_unit_test(test_drift_and_noise),
        cmocka_unit_test(test_optimum), cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
