/* fundamentals.h: fundamental data (date,symbol,<field>...) joined to price bars as of each date
 * with a reporting lag, and z-scored across symbols date by date. */
#ifndef MOE_FINANCE_FUNDAMENTALS_H
#define MOE_FINANCE_FUNDAMENTALS_H

#include <stddef.h>

typedef struct fin_fundamentals fin_fundamentals;

/* Reads path: a header date,symbol,<field>... (at least one field), rows with a valid date, a
 * symbol, and for each field a finite number or an empty cell (not reported). Rows may come in any
 * order. Returns NULL with err naming the line and the problem. */
fin_fundamentals *fin_fundamentals_read(const char *path, char *err, size_t err_size);
void fin_fundamentals_free(fin_fundamentals *f);

int fin_fundamentals_count(const fin_fundamentals *f);
const char *fin_fundamentals_field(const fin_fundamentals *f, int i);

/* out (n, count): the value of each field for symbol on each date, as of the latest report whose
 * date + lag_days is on or before the bar's date; NAN before the first such report. */
void fin_fundamentals_asof(const fin_fundamentals *f, const char *symbol, const char (*dates)[11], int n, int lag_days,
                           double *out);

/* Cross-sectional z-scores: values (S symbols, each n_s bars with dates dates_s, count fields) are
 * replaced, for each date and field, by (v - mean) / sd over the symbols that have a value on that
 * date (population sd); NAN where fewer than two symbols have one or sd is 0. */
void fin_fundamentals_zscore(double **values, const char (**dates)[11], const int *n, int S, int count);

#endif
