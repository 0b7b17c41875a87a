/* csv.h: splitting the lines of the simple CSV files moe-finance reads (no quoting). */
#ifndef MOE_FINANCE_CSV_H
#define MOE_FINANCE_CSV_H

/* Splits line in place at commas into at most max fields, trimming spaces, tabs and the line end.
 * Returns the number of fields, or -1 when there are more than max. */
int fin_csv_split(char *line, char **fields, int max);

/* Days since 1970-01-01 of a valid "YYYY-MM-DD" date, or INT_MIN when it is not one (1800..2200). */
int fin_date_days(const char *s);

/* Writes x into buf (at least 32 bytes) exactly as printf's "%.10g" does, and returns the length.
 * Factor files hold millions of such numbers: this exact integer path (128-bit arithmetic over the
 * double's binary value, ties to even like glibc) is several times faster than printf, which it
 * still calls for zero, NaN, infinities and magnitudes outside about 1e-12 .. 1e27. */
int fin_format_g10(double x, char *buf);

#endif
