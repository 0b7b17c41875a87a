/* clinical.h: the clinical table that goes with the scans (one row per series or patient: age, sex,
 * smoking, family history, emphysema, free-text note), and the facts a note states in words:
 * smoking status and pack-years, family and personal history of lung cancer, emphysema, age, sex,
 * with negation ("denies smoking", "no family history of lung cancer"). Values given in the table's
 * own columns win; the note fills only what the table leaves empty. */
#ifndef MOE_MEDICAL_CLINICAL_H
#define MOE_MEDICAL_CLINICAL_H

#include "moecore/status.h"

typedef enum med_smoking {
    MED_SMOKING_UNKNOWN = 0,
    MED_SMOKING_NEVER,
    MED_SMOKING_FORMER,
    MED_SMOKING_CURRENT
} med_smoking;

typedef enum med_sex { MED_SEX_UNKNOWN = 0, MED_SEX_FEMALE, MED_SEX_MALE } med_sex;

#define MED_UNKNOWN (-1) /* a yes/no fact that is not known */

/* Bits of med_clinical.from_note: which fields the note supplied. */
enum {
    MED_FROM_NOTE_AGE = 1,
    MED_FROM_NOTE_SEX = 2,
    MED_FROM_NOTE_SMOKING = 4,
    MED_FROM_NOTE_PACK_YEARS = 8,
    MED_FROM_NOTE_FAMILY = 16,
    MED_FROM_NOTE_PERSONAL = 32,
    MED_FROM_NOTE_EMPHYSEMA = 64
};

/* What a note says. Numbers are NAN and yes/no facts MED_UNKNOWN when it says nothing of them. */
typedef struct med_note_facts {
    double age;           /* years */
    med_sex sex;
    med_smoking smoking;
    double pack_years;
    int family_history;   /* of lung cancer in a first- or second-degree relative: 1, 0 or MED_UNKNOWN */
    int personal_history; /* of lung cancer in the patient */
    int emphysema;
} med_note_facts;

/* Reads the facts of a free-text note (English; case and punctuation do not matter). A mention
 * preceded in its clause by a negation ("no", "not", "denies", "never", "without", "negative for",
 * "non-") or followed by one ("... : negative", "... denied") counts as its absence; "but",
 * "however" and sentence ends close a negation's reach. When a note states a fact twice the later
 * statement wins, except that a mention of quitting makes a smoker a former smoker. */
void med_note_extract(const char *note, med_note_facts *out);

/* One row of the clinical table. */
typedef struct med_clinical {
    char *id;             /* the seriesuid or patient_id, owned */
    int id_is_series;     /* 1: id is a seriesuid, 0: a patient_id */
    double age;
    med_sex sex;
    med_smoking smoking;
    double pack_years;
    int family_history;
    int personal_history;
    int emphysema;
    unsigned from_note;   /* MED_FROM_NOTE_* bits */
    char *note;           /* owned, "" when absent */
    long line;
} med_clinical;

/* Reads a clinical CSV: a header with `seriesuid` or `patient_id` (required) and any of `age`, `sex`
 * (M/F, male/female), `smoking` (never/former/current), `pack_years`, `family_history`,
 * `personal_history`, `emphysema` (yes/no, y/n, 1/0, true/false), `note`; empty cells are unknown
 * and filled from the note when it says so. Other columns are ignored; an id listed twice is an
 * error. On failure nothing is
 * returned and err names the file, line and column. *rows is owned by the caller
 * (med_clinical_free). */
mc_status med_clinical_read(const char *path, med_clinical **rows, int *n, mc_error *err);

void med_clinical_free(med_clinical *rows, int n);

/* Names for output: "never", "former", "current", "unknown"; "F", "M", "unknown". */
const char *med_smoking_name(med_smoking s);
const char *med_sex_name(med_sex s);

#endif
