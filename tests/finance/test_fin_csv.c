/* test_fin_csv.c: moe-finance's number format for its output files: fin_format_g10 against
 * printf's "%.10g" on hand-worked cases (ties to even at the tenth digit, the switch to exponents)
 * and on a seeded sweep of doubles of every magnitude. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"

static void expect(double x, const char *want) {
    char got[40];
    int n = fin_format_g10(x, got);
    assert_string_equal(got, want);
    assert_int_equal(n, (int)strlen(want));
}

static void test_hand_worked(void **state) {
    (void)state;
    expect(0.5, "0.5");
    expect(-2, "-2");
    expect(100, "100");
    expect(1234567890, "1234567890");
    expect(12345678905.0, "1.23456789e+10");   /* a tie at the tenth digit, 0 is even: down */
    expect(12345678915.0, "1.234567892e+10");  /* a tie, 1 is odd: up */
    expect(9999999999.5, "1e+10");             /* rounds up into the next decade */
    expect(0.0001, "0.0001");                  /* the last fixed-point exponent */
    expect(0.00001234, "1.234e-05");
    expect(1.0 / 3.0, "0.3333333333");
    expect(-2.0 / 3.0, "-0.6666666667");
    expect(1e300, "1e+300");                   /* outside the exact path: printf's own */
    expect(0.0, "0");
}

static void test_sweep(void **state) {
    (void)state;
    uint64_t s = 88172645463325252ull;
    int differ = 0;
    for (int i = 0; i < 300000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double x;
        switch (s % 4) {
        case 0: memcpy(&x, &s, sizeof x); break;                          /* any bit pattern */
        case 1: x = (double)(s % 100000000000ull) + 0.5; break;          /* ties near 11 digits */
        case 2: x = (double)(s % 20000000001ull) / 2; break;
        default: x = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * pow(10, (int)(s % 40) - 15);
        }
        char want[64], got[40];
        snprintf(want, sizeof want, "%.10g", x);
        fin_format_g10(x, got);
        if (strcmp(want, got) != 0 && differ++ < 5) print_error("%.17g: printf %s, fin_format_g10 %s\n", x, want, got);
    }
    assert_int_equal(differ, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hand_worked), cmocka_unit_test(test_sweep)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
