/* detector.h: the lung-nodule detector of moe-medical: a study prepared for detection (read, resampled
 * to 1 mm isotropic voxels, lung mask, Hessian blob candidates), multi-scale patches around candidates
 * (windowed HU, optionally flipped, rotated or scaled), a small 3D CNN with residual blocks,
 * squeeze-excitation and spatial attention that scores each candidate as nodule or not, regresses its
 * diameter and classifies its type, 3D non-maximum suppression of the scored candidates, and the
 * density rule for a nodule's type and solid part.
 *
 * The network's input is two channels of MED_PATCH^3 voxels around the candidate, HU -1000..400
 * scaled to 0..1: 1 mm voxels (24 mm across) and 2 mm voxels (48 mm across: a large nodule whole,
 * and its surroundings). Its MED_HEADS outputs: the nodule logit, ln(diameter / 10 mm), and the
 * logits of the three types (solid, part-solid, ground-glass, in med_nodule_type's order). */
#ifndef MOE_MEDICAL_DETECTOR_H
#define MOE_MEDICAL_DETECTOR_H

#include <stdint.h>

#include "risk/brock.h"
#include "candidates.h"
#include "risk/lungrads.h"
#include "moecore/model.h"
#include "moecore/status.h"
#include "dicom/series.h"
#include "volume.h"

#define MED_PATCH 24            /* voxels (mm) on each side of a patch */
#define MED_PATCH_HU_LO (-1000.0) /* window of the patches: HU lo..hi to 0..1 */
#define MED_PATCH_HU_HI 400.0
#define MED_CHANNELS 2          /* 1 mm and 2 mm voxels */
#define MED_CONTEXT_SCALE 2.0   /* voxel size of the second channel, mm */
#define MED_INPUT_SIZE ((size_t)MED_CHANNELS * MED_PATCH * MED_PATCH * MED_PATCH)
#define MED_HEADS 5             /* nodule logit, ln(diameter / 10 mm), 3 type logits */
#define MED_DIAMETER_REF_MM 10.0

/* One finding of the detector on a series. */
typedef struct med_finding {
    int index;             /* 1 = most probable */
    double x, y, z;        /* world position, mm (DICOM LPS) */
    double i, j, k;        /* voxel coordinates in the 1 mm volume */
    double diameter_mm;    /* the CNN's diameter bounded by the measured extent (med_reported_diameter) */
    double blob_diameter_mm; /* the candidate's blob diameter */
    double probability;    /* the CNN's nodule probability */
    med_nodule_type type;  /* the CNN's type */
    double solid_mm;       /* diameter of the solid part */
    med_lungrads lungrads; /* category from size and type */
    double malignancy;     /* the fusion's risk, NAN without clinical data */
    double brock;          /* the Brock model's risk, NAN without clinical data */
    int uncertain;         /* MED_UNSURE_* bits: what the category and risks rest on less firmly */
} med_finding;

/* What a finding's type and size rest on when the network is unsure (med_finding.uncertain): */
#define MED_UNSURE_TYPE 1 /* the network's type probability is under MED_TYPE_SURE: the type is the density rule's */
#define MED_UNSURE_SIZE 2 /* the network's diameter was outside the measured extent by more than a quarter */
#define MED_TYPE_SURE 0.7

/* "type", "size", "type,size", or NULL when sure. */
const char *med_unsure_name(int uncertain);

/* The network's architecture as JSON (model.h), a static string. */
const char *med_detector_arch(void);

/* A study ready for detection, with the seconds each stage took. */
typedef struct med_prepared {
    med_volume *iso;          /* 1 mm isotropic, owned */
    med_candidate *cand;      /* n_cand candidates (world mm and voxel coordinates of iso), owned */
    int n_cand;
    double lung_ml;
    double t_read, t_resample, t_mask, t_candidates; /* seconds */
} med_prepared;

/* Reads series s, resamples it to 1 mm, masks the lungs and finds candidates with o. A series whose
 * volume has no lungs is MC_ERR_FORMAT ("no lungs found: not a chest CT"). On failure *p is left
 * zeroed and err says why. */
mc_status med_prepare(const med_series *s, const med_series_options *so, const med_candidate_opts *o,
                      med_prepared *p, mc_error *err);
void med_prepared_free(med_prepared *p); /* accepts a zeroed one */

/* Series s read and resampled as med_prepare does, with the n candidates cand found on it before
 * (copied) instead of finding them again: the same study, prepared at a fraction of the cost. */
mc_status med_prepare_again(const med_series *s, const med_series_options *so, const med_candidate *cand, int n,
                            med_prepared *p, mc_error *err);

/* Writes the MED_PATCH^3 patch (z, y, x order) around the voxel coordinate c of the 1 mm volume v:
 * output voxel offset d (from the patch centre, voxels) samples v trilinearly at c + a d, where a
 * is a 3x3 matrix (identity, or flips, 90-degree rotations and scale for augmentation); HU windowed
 * to 0..1, outside the volume as air. */
void med_patch_extract(const med_volume *v, const double c[3], const double a[3][3], float *out);

/* The network's input for the candidate at voxel coordinate c of v: MED_CHANNELS patches of
 * med_patch_extract, the first with a, the second with MED_CONTEXT_SCALE a (same centre), one after
 * the other in out (MED_INPUT_SIZE values). */
void med_patch_input(const med_volume *v, const double c[3], const double a[3][3], float *out);

/* What the network says of a candidate. */
typedef struct med_score {
    float probability;      /* nodule */
    float diameter_mm;
    med_nodule_type type;   /* the most probable of the three */
    float type_probability; /* its probability (softmax of the three type logits) */
} med_score;

/* Decodes the network's MED_HEADS outputs. */
med_score med_score_of(const float *heads);

/* MC_OK when m has the detector's input and outputs, else MC_ERR_FORMAT saying what it has. */
mc_status med_detector_check(const mc_model *m, mc_error *err);

/* The scores out[0 .. n) of the candidates of a prepared study, in batches: the network's outputs
 * averaged over the 8 flips of the axes (test-time augmentation), then decoded. */
mc_status med_detector_score(mc_model *m, const med_volume *iso, const med_candidate *c, int n, med_score *out,
                             mc_error *err);

/* rank[0 .. n) = the indices of prob[], most probable first (ties by index). -1 when out of memory. */
int med_rank_by_probability(const float *prob, int n, int *rank);

/* 3D non-maximum suppression by the extent each finding would report: order[] receives the indices
 * of the candidates kept, most probable first; a candidate is dropped when its centre and that of a
 * more probable one kept are closer than the smaller of their radii radius_mm[] (at least
 * min_radius_mm): each lies within the object the other reports, so one nodule is one finding
 * however many candidates it raised, while a large object beside a small nodule does not hide it.
 * Returns how many were kept (at most n), or -1 when out of memory. */
int med_nms3d(const med_candidate *c, const float *prob, const double *radius_mm, int n, double min_radius_mm,
              int *order);

/* The extent of the object around voxel coordinate c of the 1 mm volume v, measured along the 13
 * lines through c (3 axes, 6 face diagonals, 4 body diagonals): on each, the length of the run of
 * samples (0.5 mm apart, trilinear, up to MED_EXTENT_MAX_MM from c each way, a single sample below
 * allowed) denser than the threshold min(-700 HU, halfway between the centre's density and lung's
 * -850 HU): ground glass counts as nodule. min, median and max over the 13 lines; all 0 when the
 * centre itself is not denser than the threshold (nothing there to measure). */
#define MED_EXTENT_MAX_MM 40.0
typedef struct med_extent {
    double min_mm, median_mm, max_mm;
} med_extent;

med_extent med_nodule_extent(const med_volume *v, const double c[3]);

/* The diameter a finding reports: the network's, bounded by the measured extent e: no smaller than
 * its narrowest line, no larger than its widest or MED_EXTENT_SPREAD times its median line (a
 * vessel junction or the chest wall runs long on a few lines only; an oval nodule's lines are
 * within half its mean); the network's as it is when e is empty. */
#define MED_EXTENT_SPREAD 1.5
double med_reported_diameter(double network_mm, const med_extent *e);

/* The density rule: the type of the nodule at voxel coordinate c of the 1 mm volume v with diameter
 * d mm, from the voxels of the ball of that diameter that are denser than lung (> -800 HU): solid
 * when at least 60% of them are above -300 HU, ground-glass when under 15%, part-solid between;
 * *solid_mm the diameter of a ball with the volume of the solid part (d when solid, 0 when
 * ground-glass). */
med_nodule_type med_nodule_type_of(const med_volume *v, const double c[3], double d, double *solid_mm);

/* The solid part's diameter of a nodule of type t and diameter d at c: d for a solid one, 0 for a
 * ground-glass one, and for a part-solid one the diameter of a ball with the volume of the ball's
 * voxels above -300 HU among those above -800 HU, at most d. */
double med_solid_part_mm(const med_volume *v, const double c[3], double d, med_nodule_type t);

/* LUNA16's rule: the index of the first annotation (x, y, z, diameter rows of 4 doubles, n of them)
 * whose radius contains p, or -1. */
int med_match_annotation(const double p[3], const double *ann, int n);

#endif
