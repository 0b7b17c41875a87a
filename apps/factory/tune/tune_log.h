/* tune_log.h: the files of a real line that `tune propose` reads: the log of batches
 * (timestamp,<parameter>...,<objective>) and the parameter bounds (name,min,max,max_step), and the
 * recipes `tune simulate --recipes` runs, read strictly: a clear reason naming the line for every
 * problem. */
#ifndef MOE_FACTORY_TUNE_LOG_H
#define MOE_FACTORY_TUNE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "surrogate_opt.h"

typedef struct fab_bounds_table {
    int d;
    char names[FAB_SURROGATE_MAX_DIM][64];
    const char *name_ptr[FAB_SURROGATE_MAX_DIM];
    double min[FAB_SURROGATE_MAX_DIM], max[FAB_SURROGATE_MAX_DIM], step[FAB_SURROGATE_MAX_DIM];
    uint64_t hash;
} fab_bounds_table;

/* The logged batches: X (n x d, in the bounds' parameter order) and y; pending[i] marks a batch
 * whose objective is not measured yet (an empty, NA or NaN cell; y[i] is NAN), line[i] its line in
 * the file. */
typedef struct fab_history_table {
    int n, cap;
    double *X, *y;
    unsigned char *pending;
    int *line;
    uint64_t hash;
} fab_history_table;

/* Reads the bounds file into *b; 0, or -1 with reason ("line 3: min > max", ...). */
int fab_read_bounds(const char *path, fab_bounds_table *b, char *reason, size_t size);

/* Reads the log of batches into *h with its columns in b's parameter order and the objective
 * column named objective; 0, or -1 with reason. Parameters must be finite numbers; the objective
 * may be missing (a pending batch). Release with fab_history_free. */
int fab_read_history(const char *path, const fab_bounds_table *b, const char *objective, fab_history_table *h,
                     char *reason, size_t size);
void fab_history_free(fab_history_table *h);

/* Reads recipes to run (a header naming each of the d parameters once, any order, other columns
 * ignored; then one recipe per line, each value a finite number within [lo, hi]) into *X (malloc'd,
 * n x d, the parameters in the order of names); 0, or -1 with reason naming the line. */
int fab_read_recipes(const char *path, int d, const char *const *names, const double *lo, const double *hi, double **X,
                     int *n, char *reason, size_t size);

#endif
