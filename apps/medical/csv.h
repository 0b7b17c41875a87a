/* csv.h: the CSV record reader that moe-medical's tables share: the clinical table and the LUNA16
 * files (quoted fields, doubled quotes, line numbers for error messages), and the check for a key
 * listed twice. */
#ifndef MOE_MEDICAL_CSV_H
#define MOE_MEDICAL_CSV_H

#include <stdio.h>

#include "moecore/status.h"

#define MED_CSV_MAX_RECORD 65536 /* bytes in one record */
#define MED_CSV_MAX_FIELDS 256

/* A CSV file read one record at a time. Fields are separated by commas; a field may be quoted with
 * double quotes, inside which commas, newlines and doubled quotes ("") are data. Surrounding spaces
 * of unquoted fields are removed; a trailing carriage return is ignored. */
typedef struct med_csv {
    FILE *f;
    const char *path; /* as given, for messages; not owned */
    long line;        /* line on which the last record started (1-based) */
    long next_line;   /* line the next record starts on */
    char *buf;        /* the record's fields, NUL-separated */
    char **field;     /* n pointers into buf */
    int n;
} med_csv;

/* Opens path. MC_ERR_IO naming the file when it cannot be opened. */
mc_status med_csv_open(med_csv *c, const char *path, mc_error *err);

/* Reads the next record into c->field[0 .. c->n). Returns 1 for a record, 0 at the end of the file,
 * -1 with err set (MC_ERR_FORMAT naming file and line: binary data, a record longer than
 * MED_CSV_MAX_RECORD, too many fields, an unterminated quote; MC_ERR_IO on a read error). Blank
 * lines are skipped. */
int med_csv_next(med_csv *c, mc_error *err);

/* The index of the field equal to name (case-insensitive) in the current record, or -1. */
int med_csv_find(const med_csv *c, const char *name);

/* Closes the file and frees the buffers. Accepts a closed or zeroed reader. */
void med_csv_close(med_csv *c);

/* A key that stands twice in a table read from CSV: n records of size bytes from base, each with its
 * key a string (char *) offset bytes into it. Returns 1 with *first < *again the indices of the two
 * earliest records whose key is the least, in strcmp order, of those that repeat; 0 when every key
 * is distinct; -1 when out of memory. */
int med_csv_repeated(const void *base, int n, size_t size, size_t offset, int *first, int *again);

/* Parses a whole field as a finite real. Returns 0, or -1 when it is empty, not a number or not finite. */
int med_csv_real(const char *s, double *out);

#endif
