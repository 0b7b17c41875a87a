/* test_lungrads.c: Lung-RADS v2022 baseline categories on both sides of every size boundary, the
 * rounding to one decimal place, the perifissural, airway and 4X rules, and the exam category. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "risk/lungrads.h"

#define S MED_NODULE_SOLID
#define PS MED_NODULE_PART_SOLID
#define GG MED_NODULE_GROUND_GLASS

static void test_boundaries(void **state) {
    (void)state;
    static const struct {
        med_lungrads_nodule n;
        const char *want;
    } cases[] = {
        /* solid: 6, 8 and 15 mm */
        {{S, 0, 0, 0, 0, 0}, "2"},     {{S, 5.9, 0, 0, 0, 0}, "2"},   {{S, 6.0, 0, 0, 0, 0}, "3"},
        {{S, 7.9, 0, 0, 0, 0}, "3"},   {{S, 8.0, 0, 0, 0, 0}, "4A"},  {{S, 14.9, 0, 0, 0, 0}, "4A"},
        {{S, 15.0, 0, 0, 0, 0}, "4B"}, {{S, 40, 0, 0, 0, 0}, "4B"},
        /* one decimal place: 5.94 is 5.9, 5.95 is 6.0 */
        {{S, 5.94, 0, 0, 0, 0}, "2"},  {{S, 5.95, 0, 0, 0, 0}, "3"},  {{S, 7.96, 0, 0, 0, 0}, "4A"},
        /* part-solid: the whole at 6 mm, then the solid part at 6 and 8 mm */
        {{PS, 5.9, 3, 0, 0, 0}, "2"},  {{PS, 6.0, 0, 0, 0, 0}, "3"},  {{PS, 12, 5.9, 0, 0, 0}, "3"},
        {{PS, 12, 6.0, 0, 0, 0}, "4A"}, {{PS, 12, 7.9, 0, 0, 0}, "4A"}, {{PS, 12, 8.0, 0, 0, 0}, "4B"},
        {{PS, 5.9, 5.9, 0, 0, 0}, "2"},
        /* ground-glass: 30 mm */
        {{GG, 29.9, 0, 0, 0, 0}, "2"}, {{GG, 30.0, 0, 0, 0, 0}, "3"}, {{GG, 29.96, 0, 0, 0, 0}, "3"},
        /* perifissural solid below 10 mm is benign; at 10 mm the size rules apply again */
        {{S, 9.9, 0, 1, 0, 0}, "2"},   {{S, 10.0, 0, 1, 0, 0}, "4A"},
        /* airway nodules are 4A */
        {{S, 4, 0, 0, 1, 0}, "4A"},    {{S, 16, 0, 0, 1, 0}, "4B"},
        /* suspicious features make 3 and 4 into 4X, not 2 */
        {{S, 5, 0, 0, 0, 1}, "2"},     {{S, 6.5, 0, 0, 0, 1}, "4X"},  {{PS, 12, 9, 0, 0, 1}, "4X"},
        {{GG, 35, 0, 0, 0, 1}, "4X"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        med_lungrads c;
        mc_error err = {0};
        if (med_lungrads_category(&cases[i].n, &c, &err) != MC_OK) fail_msg("case %zu: %s", i, err.msg);
        if (strcmp(med_lungrads_name(c), cases[i].want) != 0)
            fail_msg("case %zu (%s %.2f/%.2f mm): %s, want %s", i, med_nodule_type_name(cases[i].n.type),
                     cases[i].n.diameter_mm, cases[i].n.solid_mm, med_lungrads_name(c), cases[i].want);
    }
}

static void test_exam_and_errors(void **state) {
    (void)state;
    med_lungrads cats[] = {MED_LUNGRADS_2, MED_LUNGRADS_4A, MED_LUNGRADS_3};
    assert_int_equal(med_lungrads_exam(cats, 3), MED_LUNGRADS_4A);
    assert_int_equal(med_lungrads_exam(cats, 0), MED_LUNGRADS_1);
    assert_string_equal(med_lungrads_name(MED_LUNGRADS_1), "1");
    med_lungrads c;
    mc_error err = {0};
    med_lungrads_nodule bad[] = {{S, -1, 0, 0, 0, 0}, {S, NAN, 0, 0, 0, 0}, {PS, 6, 7, 0, 0, 0}, {PS, 6, -2, 0, 0, 0},
                                 {(med_nodule_type)9, 6, 0, 0, 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(med_lungrads_category(&bad[i], &c, &err), MC_ERR_ARG);
        assert_non_null(strstr(err.msg, "Lung-RADS: "));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_exam_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
