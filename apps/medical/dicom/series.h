/* series.h: DICOM files grouped into series, checked, ordered along the slice normal, and read
 * into a CT volume in Hounsfield units.
 *
 * Slices are ordered by their Image Position projected on the normal of the Image Orientation
 * (row direction x column direction), never by file name, Instance Number or Slice Location; the
 * slice spacing comes from those positions, not from Slice Thickness. Every problem found is
 * named in the series' problems; the fatal ones make it unusable (no volume is built). */
#ifndef MOE_MEDICAL_SERIES_H
#define MOE_MEDICAL_SERIES_H

#include "dicom.h"
#include "volume.h"

/* What to do with missing slices or uneven spacing. */
typedef enum med_gap_policy {
    MED_GAPS_REJECT = 0, /* the series is unusable */
    MED_GAPS_RESAMPLE    /* linear interpolation onto a uniform grid at the most common spacing */
} med_gap_policy;

/* "reject" or "resample" into *out; -1 for anything else. */
int med_gap_policy_parse(const char *text, med_gap_policy *out);

typedef struct med_series_options {
    int min_slices;        /* fewer slices make the series unusable */
    med_gap_policy gaps;
} med_series_options;

#define MED_SERIES_OPTIONS_DEFAULT {10, MED_GAPS_REJECT}

#define MED_MAX_PROBLEMS 8
#define MED_PROBLEM_LEN 240

typedef struct med_series {
    char series_uid[MED_UID_MAX], study_uid[MED_UID_MAX];
    char modality[17], patient_id[65], study_date[17], description[65], manufacturer[65];
    char transfer_syntax[MED_UID_MAX];
    char folder[4096];            /* the folder holding its files (their longest common folder) */
    int n_files;                  /* DICOM files with this Series UID */
    int n_slices;                 /* slices of the volume (localizer images left out) */
    const med_dicom_header **slice; /* n_slices, ordered along the normal (borrowed from the headers) */
    double *along;                /* position of each slice along the normal, mm */
    int cols, rows;
    double row_dir[3], col_dir[3], normal[3];
    double spacing[3];            /* between columns, between rows, between slices (the median step), mm */
    double slice_thickness;       /* nominal (0018,0050), mm; 0 when absent */
    double origin[3];             /* Image Position of the first slice */
    int usable;                   /* a volume can be built (is CT and has no fatal problem) */
    int skipped;                  /* not a CT series, or only localizers: listed, never read */
    int uneven;                   /* spacing is not uniform (missing slices or uneven steps) */
    int fatal;                    /* index in problems of the first that makes it unusable, or -1 */
    int n_problems;
    char problems[MED_MAX_PROBLEMS][MED_PROBLEM_LEN];
} med_series;

/* Groups the n headers (unreadable ones, and those without a Series Instance UID such as DICOMDIR
 * files, left out) into series by Series Instance UID, in order of
 * (study, series number, UID), and checks each: modality, localizers, geometry present, one image
 * size, one orientation, gantry tilt, duplicate positions, enough slices, even spacing. *out holds
 * *n_series series that borrow from h (keep h alive); free with med_series_free. */
mc_status med_series_build(const med_dicom_header *h, int n, const med_series_options *opt, med_series **out,
                           int *n_series, mc_error *err);
void med_series_free(med_series *s, int n);

/* Decodes the slices of a usable series into a volume (HU) whose slices run along +normal, with
 * the voxel -> world mapping of volume.h; resampled to the median step when the spacing is uneven
 * and the policy allows it. A file that cannot be decoded, or that differs from the series' size,
 * is MC_ERR_FORMAT naming it. *out owned by the caller. */
mc_status med_series_read(const med_series *s, const med_series_options *opt, med_volume **out, mc_error *err);

/* Everything found under some folders: the DICOM files and the series they form. */
typedef struct med_collection {
    med_dicom_header *files; /* n_files, sorted by path; those marked unreadable belong to no series */
    int n_files;
    int n_other;             /* files that are not DICOM */
    med_series *series;
    int n_series;
} med_collection;

/* med_dicom_scan then med_series_build over paths. Free with med_collection_free (accepts a
 * zeroed collection). */
mc_status med_collection_scan(med_collection *c, const char *const *paths, int n, const med_series_options *opt,
                              mc_error *err);
void med_collection_free(med_collection *c);

/* Parses up to n backslash-separated decimal numbers from a DICOM text value; returns how many. */
int med_parse_numbers(const char *text, double *v, int n);

#endif
