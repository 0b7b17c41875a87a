/* phantom.h: synthetic chest CT studies written as real DICOM series, with LUNA16-style nodule
 * annotations and clinical data, for tests, demonstrations and training when no patient data
 * may be used.
 *
 * Each study is a seeded draw of: body outline and fat layer, two lungs with parenchymal texture
 * (and emphysema in some), branching vessel trees (the usual source of false positives), airways,
 * ribs, spine and heart; 0 to 4 nodules of 3-30 mm, solid, part-solid or ground-glass, spherical,
 * lobulated or spiculated, some touching the pleura or a vessel; then scanner effects: slice
 * spacing 0.625-2.5 mm, pixel spacing from the field of view, in-plane blur, noise, table offsets,
 * ascending or descending slice order, signed or unsigned pixels, and a transfer syntax (some
 * losslessly compressed). The same seed gives the same files. */
#ifndef MOE_MEDICAL_PHANTOM_H
#define MOE_MEDICAL_PHANTOM_H

#include <stdint.h>

#include "moecore/status.h"

/* The generator's settings.
 * - MED_PHANTOM_STANDARD: the tests' studies, and the first detectors' training set.
 * - MED_PHANTOM_VARIED: what the shipped detector is trained on: each study draws its own scanner
 *   (slice spacing 0.625-5 mm, field of view 300-420 mm, blur, 5-45 HU of noise, a sharp kernel in
 *   40%), its own vessel trees (2-4 per hilum and kind, 8-10 generations, down to 0.5-0.9 mm), its
 *   own nodule mix (0-6 of 3-30 mm, 35-65% solid, some calcified, 25-50% free), and oblique fissures,
 *   mucus-filled airway branches and streak artefacts in some.
 * - MED_PHANTOM_SHIFTED: for evaluation only, settings no training set uses: denser vessel trees of
 *   more generations (5 per hilum and kind, 11 generations, down to 0.45 mm), slices 2-3 mm apart,
 *   a sharp kernel with 35-60 HU of noise, a smaller field of view, and more subsolid nodules and
 *   nodules against the pleura or a vessel. */
typedef enum { MED_PHANTOM_STANDARD, MED_PHANTOM_SHIFTED, MED_PHANTOM_VARIED } med_phantom_variant;

typedef struct med_phantom_options {
    int n;           /* studies */
    int size;        /* rows and columns of each slice */
    int slices;      /* slices per series; 0 = enough to cover 110-160 mm of chest */
    uint64_t seed;
    med_phantom_variant variant;
} med_phantom_options;

/* One study written, as reported to the caller. */
typedef struct med_phantom_study {
    char series_uid[65];
    char folder[4200];
    int cols, rows, slices;
    double spacing[3];
    int n_nodules;
    const char *codec;  /* short name of the transfer syntax */
    int descending;     /* instance numbers run from the top slice down */
} med_phantom_study;

typedef void (*med_phantom_fn)(void *user, const med_phantom_study *s);

/* Writes o->n studies under dir (created when absent): dir/study_NNN/series/IMG_*.dcm, and
 * dir/annotations.csv (seriesuid,coordX,coordY,coordZ,diameter_mm; world mm, DICOM LPS),
 * dir/nodules.csv (the same with type, shape and what each nodule touches), dir/clinical.csv
 * (seriesuid,patient_id,age,sex,smoking,family_history,emphysema,note) and dir/truth.csv
 * (seriesuid,malignant,risk: the phantom's own malignancy label and the probability it was drawn
 * from). on_study (may be NULL) is called after each study. */
mc_status med_phantom_write(const char *dir, const med_phantom_options *o, med_phantom_fn on_study, void *user,
                            mc_error *err);

#endif
