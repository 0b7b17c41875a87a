/* test_brock.c: the Brock (PanCan) full model against values worked by hand from the published
 * coefficients, its monotonicity in each risk factor, and its refusal of out-of-range inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "risk/brock.h"

#define assert_near(a, b, eps)                                                                   \
    do {                                                                                         \
        double a_ = (a), b_ = (b);                                                               \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.17g, want %.17g", #a, a_, b_);           \
    } while (0)

static void test_hand_worked(void **state) {
    (void)state;
    double z, p;
    /* 62-year-old man, solid 10 mm, lower lobe, 4 nodules, nothing else: only the size term moves:
     * -5.3854 * (1^-0.5 - 1.58113883) = +3.1296650...; logit = -6.7892 + 3.1296650 = -3.6595350,
     * p = 1 / (1 + e^3.6595350) = 0.0250983 */
    med_brock_input a = {62, 0, 0, 0, 10, MED_NODULE_SOLID, 0, 4, 0};
    assert_int_equal(med_brock(&a, &z, &p, NULL), MC_OK);
    assert_near(z, -3.6595349, 1e-6);
    assert_near(p, 0.0250983, 1e-6);
    /* the reference point: 62, male, solid 4 mm (the size term's centre), 4 nodules: the intercept */
    a.size_mm = 4;
    assert_int_equal(med_brock(&a, &z, &p, NULL), MC_OK);
    assert_near(z, -6.7892, 1e-8);
    assert_near(p, 1 / (1 + exp(6.7892)), 1e-10);
    /* 70-year-old woman with family history and emphysema, part-solid 15 mm, upper lobe, spiculated,
     * the only nodule: 0.0287*8 = 0.2296; 0.6011; 0.2961; 0.2953;
     * -5.3854 * (1.5^-0.5 - 1.58113883) = -5.3854 * (0.81649658 - 1.58113883) = 4.1179052; 0.377;
     * 0.6581; -0.0824 * (1 - 4) = 0.2472; 0.7729; sum with -6.7892: 0.8060044, p = 0.6912574 */
    med_brock_input b = {70, 1, 1, 1, 15, MED_NODULE_PART_SOLID, 1, 1, 1};
    assert_int_equal(med_brock(&b, &z, &p, NULL), MC_OK);
    assert_near(z, 0.8060044, 1e-6);
    assert_near(p, 0.6912574, 1e-6);
    /* 55-year-old man, ground-glass 4 mm, 10 nodules: -6.7892 - 0.2009 - 0.1276 - 0.4944 = -7.6121 */
    med_brock_input c = {55, 0, 0, 0, 4, MED_NODULE_GROUND_GLASS, 0, 10, 0};
    assert_int_equal(med_brock(&c, &z, &p, NULL), MC_OK);
    assert_near(z, -7.6121, 1e-8);
    assert_near(p, 0.000494188, 1e-8);
}

/* Every risk factor moves the probability the published way. */
static void test_directions(void **state) {
    (void)state;
    med_brock_input base = {60, 0, 0, 0, 8, MED_NODULE_SOLID, 0, 2, 0};
    double z0, p0, z, p;
    assert_int_equal(med_brock(&base, &z0, &p0, NULL), MC_OK);
    med_brock_input v;
#define MOVES(field, value, delta)                                                               \
    v = base;                                                                                    \
    v.field = value;                                                                             \
    assert_int_equal(med_brock(&v, &z, &p, NULL), MC_OK);                                        \
    assert_near(z - z0, delta, 1e-9)
    MOVES(female, 1, 0.6011);
    MOVES(family_history, 1, 0.2961);
    MOVES(emphysema, 1, 0.2953);
    MOVES(upper_lobe, 1, 0.6581);
    MOVES(spiculation, 1, 0.7729);
    MOVES(type, MED_NODULE_PART_SOLID, 0.377);
    MOVES(type, MED_NODULE_GROUND_GLASS, -0.1276);
    MOVES(age, 70, 0.0287 * 10);
    MOVES(nodule_count, 5, -0.0824 * 3);
#undef MOVES
    /* larger nodules are riskier, with diminishing steps */
    double prev = 0, prev_step = 1e9;
    for (double s = 2; s <= 30; s += 2) {
        v = base;
        v.size_mm = s;
        assert_int_equal(med_brock(&v, &z, &p, NULL), MC_OK);
        if (s > 2) {
            assert_true(z > prev);
            assert_true(z - prev < prev_step);
            prev_step = z - prev;
        }
        prev = z;
    }
}

static void test_bad_inputs(void **state) {
    (void)state;
    double z, p;
    mc_error err = {0};
    med_brock_input bad[] = {
        {-1, 0, 0, 0, 8, MED_NODULE_SOLID, 0, 1, 0},  {130, 0, 0, 0, 8, MED_NODULE_SOLID, 0, 1, 0},
        {NAN, 0, 0, 0, 8, MED_NODULE_SOLID, 0, 1, 0}, {60, 0, 0, 0, 0, MED_NODULE_SOLID, 0, 1, 0},
        {60, 0, 0, 0, NAN, MED_NODULE_SOLID, 0, 1, 0}, {60, 0, 0, 0, 8, MED_NODULE_SOLID, 0, 0, 0},
        {60, 2, 0, 0, 8, MED_NODULE_SOLID, 0, 1, 0},  {60, 0, 0, 0, 8, (med_nodule_type)7, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(med_brock(&bad[i], &z, &p, &err), MC_ERR_ARG);
        assert_non_null(strstr(err.msg, "Brock: "));
    }
    med_nodule_type t;
    assert_int_equal(med_nodule_type_parse("Part-Solid", &t), 0);
    assert_int_equal(t, MED_NODULE_PART_SOLID);
    assert_int_equal(med_nodule_type_parse("GGN", &t), 0);
    assert_int_equal(t, MED_NODULE_GROUND_GLASS);
    assert_int_equal(med_nodule_type_parse("subsolid", &t), -1);
    assert_string_equal(med_nodule_type_name(MED_NODULE_GROUND_GLASS), "ground-glass");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_worked),
        cmocka_unit_test(test_directions),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
