/* luna_csv.h: the CSV files of a LUNA16-style evaluation: nodule annotations and "irrelevant
 * findings" (seriesuid, coordX, coordY, coordZ, diameter_mm), detector predictions (seriesuid,
 * coordX, coordY, coordZ, probability) and scan lists, read with the shared CSV reader (csv.h). */
#ifndef MOE_MEDICAL_LUNA_CSV_H
#define MOE_MEDICAL_LUNA_CSV_H

#include "csv.h"

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
