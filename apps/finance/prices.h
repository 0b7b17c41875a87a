/* prices.h: daily price bars from CSV files, validated row by row. A file is either one symbol's
 * bars (date,open,high,low,close,volume; the symbol is the file name without .csv) or a long file
 * with a symbol column holding several symbols. Columns may come in any order, names are
 * case-insensitive, other columns are ignored. */
#ifndef MOE_FINANCE_PRICES_H
#define MOE_FINANCE_PRICES_H

#include <stddef.h>

typedef enum fin_bad_rows { FIN_BAD_ROWS_REJECT = 0, FIN_BAD_ROWS_DROP } fin_bad_rows;

/* One symbol's bars in date order. */
typedef struct fin_prices {
    char symbol[64];
    int n, cap;
    char (*date)[11]; /* "YYYY-MM-DD" */
    double *open, *high, *low, *close, *volume;
} fin_prices;

/* Called for each dropped row under FIN_BAD_ROWS_DROP: "line 12: high < low". */
typedef void (*fin_row_warning)(void *user, const char *path, const char *message);

/* Reads path into *out (*n_out symbols, owned by the caller: fin_prices_free). Returns 0, or -1 with
 * err naming the line and the problem: a malformed header, an unparseable or non-finite number, a
 * non-positive price, high below low or outside open/close, negative volume, an invalid date, a
 * duplicate or unsorted date (per symbol), a line over 4 KiB, or no bars at all. With
 * FIN_BAD_ROWS_DROP a bad row is dropped and reported through warn instead; the file is still
 * rejected when its header is bad or no row is left. */
int fin_prices_read(const char *path, fin_bad_rows policy, fin_row_warning warn, void *user, fin_prices **out,
                    int *n_out, char *err, size_t err_size);

void fin_prices_free(fin_prices *p, int n);

#endif
