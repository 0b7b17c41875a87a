/* test_safe_name.c: file names from input values: kept when safe, changed and hashed when not,
 * never climbing out of a folder, never a dot-file, never the same for two values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "moecore/safe_name.h"
#include "moecore/sha256.h"

static void hashed(const char *in, const char *prefix, char *expect, size_t size) {
    char hex[MC_SHA256_HEX];
    mc_sha256_hex((const uint8_t *)in, strlen(in), hex);
    snprintf(expect, size, "%s-%.8s", prefix, hex);
}

static void test_safe_values_kept(void **state) {
    (void)state;
    char out[64];
    mc_safe_name(out, sizeof out, "GBMA");
    assert_string_equal(out, "GBMA");
    mc_safe_name(out, sizeof out, "1.2.840.113619.2.55");
    assert_string_equal(out, "1.2.840.113619.2.55");
    mc_safe_name(out, sizeof out, "BRK-B_x.y");
    assert_string_equal(out, "BRK-B_x.y");
}

static void test_unsafe_values_changed(void **state) {
    (void)state;
    char out[64], expect[64];
    mc_safe_name(out, sizeof out, "../../x");
    hashed("../../x", "_._.._x", expect, sizeof expect); /* no slash left: it names a file in the folder */
    assert_string_equal(out, expect);
    assert_null(strchr(out, '/'));
    mc_safe_name(out, sizeof out, ".hidden");
    hashed(".hidden", "_hidden", expect, sizeof expect);
    assert_string_equal(out, expect);
    mc_safe_name(out, sizeof out, "");
    hashed("", "_", expect, sizeof expect);
    assert_string_equal(out, expect);
    mc_safe_name(out, sizeof out, "a b\n\xc3\xa9");
    hashed("a b\n\xc3\xa9", "a_b___", expect, sizeof expect);
    assert_string_equal(out, expect);
}

static void test_distinct_values_distinct_names(void **state) {
    (void)state;
    char a[64], b[64];
    mc_safe_name(a, sizeof a, "a/b_c");
    mc_safe_name(b, sizeof b, "a_b/c");
    assert_string_not_equal(a, b);
    mc_safe_name(a, sizeof a, "a/b");
    mc_safe_name(b, sizeof b, "a_b");
    assert_string_not_equal(a, b);
}

static void test_long_values_cut_and_hashed(void **state) {
    (void)state;
    char in[200], out[MC_SAFE_NAME_MIN], expect[64];
    memset(in, 'z', sizeof in - 1);
    in[sizeof in - 1] = '\0';
    mc_safe_name(out, sizeof out, in);
    assert_int_equal(strlen(out), MC_SAFE_NAME_MIN - 1);
    hashed(in, "zzzzzzzzzzzzzzzzzzzzzz", expect, sizeof expect);
    assert_string_equal(out, expect);
    in[150] = 'y'; /* differs only past the cut */
    char other[MC_SAFE_NAME_MIN];
    mc_safe_name(other, sizeof other, in);
    assert_string_not_equal(out, other);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_values_kept),
        cmocka_unit_test(test_unsafe_values_changed),
        cmocka_unit_test(test_distinct_values_distinct_names),
        cmocka_unit_test(test_long_values_cut_and_hashed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
