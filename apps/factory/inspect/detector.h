/* detector.h: a trained inspection model of either kind behind one interface: the supervised
 * network (inspector.h) or the good-only anomaly model (anomaly.h), with its input size, its
 * calibrated threshold and how it was calibrated, saved to and loaded from one safetensors file
 * (the settings as JSON in __metadata__ "moesuite.inspect"). A detector is used by one thread at a
 * time; its network spreads each batch over every core. */
#ifndef MOE_FACTORY_DETECTOR_H
#define MOE_FACTORY_DETECTOR_H

#include "anomaly.h"
#include "moecore/model.h"
#include "moecore/sha256.h"

typedef enum fab_mode { FAB_MODE_SUPERVISED = 0, FAB_MODE_ANOMALY } fab_mode;

const char *fab_mode_name(fab_mode m); /* "supervised" or "anomaly" */

typedef struct fab_detector {
    fab_mode mode;
    int size;                 /* input side S: images are resized to S x S */
    int map;                  /* defect map side M = S / 8 */
    int topk;                 /* supervised: map cells in the image score */
    double threshold;         /* an image is a defect when its score is above */
    char method[64];          /* how the threshold was calibrated, e.g. "cost 20:1" */
    mc_model *net;            /* supervised network (NULL in anomaly mode) */
    fab_anomaly anomaly;      /* anomaly model (empty in supervised mode) */
    char sha256[MC_SHA256_HEX]; /* of the model file, after load */
    char *info;               /* the "moesuite.inspect" JSON, owned */
} fab_detector;

/* Scores n preprocessed images x (n, S, S): map (n, M, M) receives the per-cell defect probability
 * (supervised) or patch distance (anomaly), score (n) the image scores. */
mc_status fab_detector_run(fab_detector *d, const float *x, int n, float *map, double *score);

/* Saves d to path; provenance (n_meta entries) goes beside the settings, extra_json (a JSON object
 * text or NULL) is merged into the settings (validation figures, ...). */
mc_status fab_detector_save(const fab_detector *d, const char *path, const char *extra_json, const mc_st_meta *provenance,
                            int n_meta, mc_error *err);

/* Loads a model file (untrusted input: every tensor and setting is checked) and hashes it. A
 * supervised network is loaded in its inference form (fab_inspector_fold). */
mc_status fab_detector_load(fab_detector **out, const char *path, mc_error *err);

void fab_detector_free(fab_detector *d); /* frees a detector from fab_detector_load; accepts NULL */

/* Releases what a detector filled in by training holds, without freeing d itself. */
void fab_detector_clear(fab_detector *d);

#endif
