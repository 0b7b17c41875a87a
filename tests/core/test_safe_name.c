/* test_safe_name.c: file names from input values: kept when already safe, made safe otherwise, with
 * a hash that keeps different inputs apart, and bounded by the buffer and MC_SAFE_NAME_SIZE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "moecore/safe_name.h"
#include "moecore/sha256.h"

/* "-" and the first 16 hex digits of SHA-256(s). */
static void suffix(const char *s, char out[18]) {
    char hex[MC_SHA256_HEX];
    mc_sha256_hex((const uint8_t *)s, strlen(s), hex);
    out[0] = '-';
    memcpy(out + 1, hex, 16);
    out[17] = '\0';
}

static int safe_chars(const char *s) {
    for (const char *p = s; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", *p)) return 0;
    return s[0] != '.' && s[0] != '-' && s[0] != '\0';
}

static void test_kept(void **state) {
    (void)state;
    char out[MC_SAFE_NAME_SIZE];
    const char *kept[] = {"GBMA", "BRK.B", "a_b-c.9", "x..y"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        mc_safe_name(out, sizeof out, kept[i]);
        assert_string_equal(out, kept[i]);
    }
}

static void test_changed(void **state) {
    (void)state;
    char out[MC_SAFE_NAME_SIZE], want[MC_SAFE_NAME_SIZE], h[18];
    mc_safe_name(out, sizeof out, "../../x");
    suffix("../../x", h);
    snprintf(want, sizeof want, "_._.._x%s", h);
    assert_string_equal(out, want);
    assert_null(strchr(out, '/'));
    const char *hostile[] = {"", ".hidden", "-rf", "a/b", "a\\b", "sp ace", "caf\xc3\xa9", "..", ".", "/", "x\ny"};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        mc_safe_name(out, sizeof out, hostile[i]);
        assert_true(safe_chars(out));
        suffix(hostile[i], h);
        assert_true(strlen(out) >= 18); /* a character and the hash at least */
        assert_string_equal(out + strlen(out) - 17, h);
    }
    mc_safe_name(out, sizeof out, NULL);
    assert_true(safe_chars(out));
}

/* Inputs that the replacement alone would merge stay apart, and a name that looks like a changed
 * one is not taken as it is. */
static void test_distinct(void **state) {
    (void)state;
    char a[MC_SAFE_NAME_SIZE], b[MC_SAFE_NAME_SIZE], c[MC_SAFE_NAME_SIZE];
    mc_safe_name(a, sizeof a, "a/b");
    mc_safe_name(b, sizeof b, "a:b");
    mc_safe_name(c, sizeof c, "a_b");
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_equal(c, "a_b");
    char look[MC_SAFE_NAME_SIZE];
    mc_safe_name(look, sizeof look, a); /* "a_b-<16 hex>" given as a symbol */
    assert_string_not_equal(look, a);
    assert_true(safe_chars(look));
}

static void test_bounded(void **state) {
    (void)state;
    char longest[300], out[MC_SAFE_NAME_SIZE], other[MC_SAFE_NAME_SIZE];
    memset(longest, 'A', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    mc_safe_name(out, sizeof out, longest);
    assert_int_equal(strlen(out), MC_SAFE_NAME_SIZE - 1);
    longest[200] = 'B'; /* differs only past the kept part */
    mc_safe_name(other, sizeof other, longest);
    assert_int_equal(strlen(other), MC_SAFE_NAME_SIZE - 1);
    assert_string_not_equal(out, other);
    char exact[MC_SAFE_NAME_SIZE];
    memset(exact, 'C', MC_SAFE_NAME_SIZE - 1);
    exact[MC_SAFE_NAME_SIZE - 1] = '\0';
    mc_safe_name(out, sizeof out, exact);
    assert_string_equal(out, exact);
    char small[30];
    memset(small, 0x55, sizeof small);
    mc_safe_name(small, sizeof small, "a_rather_long_symbol_name_here");
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_true(safe_chars(small));
    char tiny[10] = "xxxxxxxxx";
    mc_safe_name(tiny, sizeof tiny, "GBMA");
    assert_string_equal(tiny, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_distinct),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
