/* luna_csv.h: the CSV files of a LUNA16-style evaluation: nodule annotations and "irrelevant
 * findings" (seriesuid, coordX, coordY, coordZ, diameter_mm), detector predictions (seriesuid,
 * coordX, coordY, coordZ, probability) and scan lists; plus the CSV record reader they share with
 * the clinical table (quoted fields, doubled quotes, line numbers for error messages). */
#ifndef MOE_MEDICAL_LUNA_CSV_H
#define MOE_MEDICAL_LUNA_CSV_H

#include <stdio.h>

#include "moecore/status.h"

/* ---- CSV records --------------------------------------------------------------------------------- */

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

/* Parses a whole field as a finite real. Returns 0, or -1 when it is empty, not a number or not finite. */
int med_csv_real(const char *s, double *out);

/* ---- LUNA16 marks --------------------------------------------------------------------------------- */

/* One row of an annotations or predictions file: a point in world coordinates (mm) of a scan, and
 * its value: the diameter in mm (annotations) or the detector's score (predictions). */
typedef struct med_mark {
    char *seriesuid; /* owned by the list */
    double x, y, z;
    double value;
    long line; /* its line in the file */
} med_mark;

typedef struct med_marks {
    med_mark *v;
    int n;
} med_marks;

typedef enum med_marks_kind {
    MED_MARKS_ANNOTATIONS, /* diameter_mm > 0 required */
    MED_MARKS_EXCLUDED,    /* diameter_mm; a negative one means unknown and is read as 10 mm, as LUNA16 does */
    MED_MARKS_PREDICTIONS  /* probability: any finite real, higher is more confident */
} med_marks_kind;

/* Reads a marks file: a header naming the columns (any order, others ignored), then one row per
 * mark. On failure out is left empty and err names the file, the line and the problem. */
mc_status med_marks_read(const char *path, med_marks_kind kind, med_marks *out, mc_error *err);

void med_marks_free(med_marks *m);

/* A scan list: one seriesuid per line (the first field when the line has commas); blank lines and a
 * first line "seriesuid" are skipped; duplicates are an error. *uids is an array of n owned strings;
 * free with med_scan_list_free. */
mc_status med_scan_list_read(const char *path, char ***uids, int *n, mc_error *err);

void med_scan_list_free(char **uids, int n);

#endif
