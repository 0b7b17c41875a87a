/* csv.c: CSV line splitting and dates for moe-finance's input files, and the number format of its
 * output files. */
#include "csv.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int fin_csv_split(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (n == max) return -1;
        f[n++] = p;
        char *c = strchr(p, ',');
        char *end = c ? c : p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n')) end--;
        *end = '\0';
        if (!c) return n;
        p = c + 1;
    }
}

int fin_date_days(const char *s) {
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return INT_MIN;
    int digits = 1;
    for (int i = 0; i < 10; i++) digits &= i == 4 || i == 7 || (s[i] >= '0' && s[i] <= '9');
    if (digits) { /* what sscanf reads from the usual form, without its cost (a quarter of reading prices) */
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
        m = (s[5] - '0') * 10 + (s[6] - '0');
        d = (s[8] - '0') * 10 + (s[9] - '0');
    } else if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) {
        return INT_MIN;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1800 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap)) return INT_MIN;
    /* days from civil: shift the year to start in March so the leap day is last */
    int yy = m <= 2 ? y - 1 : y, era = yy / 400, yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* floor(m 2^e 10^s) into *q with the rest compared to one half (*cmp: -1 below, 0 a tie, 1 above);
 * 0 when that needs more than 128 bits. */
static int scale_exact(uint64_t m, int e, int s, uint64_t *q, int *cmp) {
    typedef unsigned __int128 u128;
    u128 num = m, den = 1;
    for (int i = 0; i < s; i++) num *= 10; /* s <= 22: 10^22 m < 2^127 */
    for (int i = 0; i < -s; i++) den *= 10; /* -s <= 27: 10^27 < 2^90 */
    if (e > 0) {
        if (e >= 128 || num >> (128 - e)) return 0;
        num <<= e;
    } else if (e < 0) {
        if (-e > 127 - 90) { /* divide by 2^-e through the remainder, exactly */
            int sh = -e;
            if (den != 1 || sh >= 127) return 0;
            u128 qq = num >> sh, rest = num - (qq << sh), half = (u128)1 << (sh - 1);
            if (qq >> 64) return 0;
            *q = (uint64_t)qq;
            *cmp = rest < half ? -1 : rest > half ? 1 : 0;
            return 1;
        }
        den <<= -e;
    }
    u128 qq = num / den, rest = num - qq * den;
    if (qq >> 64) return 0;
    *q = (uint64_t)qq;
    u128 twice = rest << 1;
    *cmp = twice < den ? -1 : twice > den ? 1 : 0;
    return 1;
}

int fin_format_g10(double x, char *buf) {
    if (!isfinite(x) || x == 0 || fabs(x) < 1e-12 || fabs(x) >= 1e27) return snprintf(buf, 32, "%.10g", x);
    int e2;
    double fr = frexp(fabs(x), &e2);
    uint64_t m = (uint64_t)ldexp(fr, 53); /* |x| = m 2^e exactly */
    int e = e2 - 53, d = (int)floor(log10(fabs(x)));
    uint64_t q = 0;
    int cmp = 0, tries = 0;
    for (;; tries++) { /* d: the decimal exponent, 10^d <= |x| < 10^(d+1) */
        if (tries > 2 || 9 - d > 22 || d - 9 > 27 || !scale_exact(m, e, 9 - d, &q, &cmp))
            return snprintf(buf, 32, "%.10g", x);
        if (q < 1000000000ull)
            d--;
        else if (q >= 10000000000ull)
            d++;
        else
            break;
    }
    if (cmp > 0 || (cmp == 0 && (q & 1))) q++;
    if (q == 10000000000ull) {
        q = 1000000000ull;
        d++;
    }
    char dig[11];
    for (int i = 9; i >= 0; i--, q /= 10) dig[i] = (char)('0' + q % 10);
    int nd = 10;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    char *p = buf;
    if (x < 0) *p++ = '-';
    if (d >= -4 && d < 10) {
        if (d < 0) {
            *p++ = '0';
            *p++ = '.';
            for (int i = 0; i < -d - 1; i++) *p++ = '0';
            for (int i = 0; i < nd; i++) *p++ = dig[i];
        } else {
            for (int i = 0; i <= d; i++) *p++ = dig[i];
            if (nd > d + 1) {
                *p++ = '.';
                for (int i = d + 1; i < nd; i++) *p++ = dig[i];
            }
        }
    } else {
        *p++ = dig[0];
        if (nd > 1) {
            *p++ = '.';
            for (int i = 1; i < nd; i++) *p++ = dig[i];
        }
        int ad = d < 0 ? -d : d;
        *p++ = 'e';
        *p++ = d < 0 ? '-' : '+';
        if (ad >= 100) *p++ = (char)('0' + ad / 100);
        *p++ = (char)('0' + ad / 10 % 10);
        *p++ = (char)('0' + ad % 10);
    }
    *p = '\0';
    return (int)(p - buf);
}
