/* assert_double.h: a double-precision closeness assertion for the cmocka tests (cmocka's
 * assert_float_equal compares in single precision). Include after <cmocka.h>. */
#ifndef TEST_ASSERT_DOUBLE_H
#define TEST_ASSERT_DOUBLE_H

#include <math.h>

#define assert_double_equal(a, b, eps)                                                                   \
    do {                                                                                                 \
        double a_ = (a), b_ = (b);                                                                       \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.17g, expected %.17g (within %g)", #a, a_, b_, (double)(eps)); \
    } while (0)

#endif
