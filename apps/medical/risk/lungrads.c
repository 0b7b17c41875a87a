/* lungrads.c: Lung-RADS v2022 baseline categories (lungrads.h). */
#include "lungrads.h"

#include <math.h>

/* Rounded to one decimal place, as the lexicon records sizes. */
static double mm1(double v) { return round(v * 10) / 10; }

mc_status med_lungrads_category(const med_lungrads_nodule *n, med_lungrads *out, mc_error *err) {
    if (!(isfinite(n->diameter_mm) && n->diameter_mm >= 0))
        return mc_error_set(err, MC_ERR_ARG, "Lung-RADS: diameter %g mm is not a size", n->diameter_mm);
    double d = mm1(n->diameter_mm), s = 0;
    if (n->type == MED_NODULE_PART_SOLID) {
        if (!(isfinite(n->solid_mm) && n->solid_mm >= 0))
            return mc_error_set(err, MC_ERR_ARG, "Lung-RADS: solid component %g mm is not a size", n->solid_mm);
        s = mm1(n->solid_mm);
        if (s > d)
            return mc_error_set(err, MC_ERR_ARG, "Lung-RADS: solid component %.1f mm larger than the nodule (%.1f mm)", s, d);
    }
    med_lungrads c;
    switch (n->type) {
    case MED_NODULE_SOLID:
        if (n->perifissural && d < 10) c = MED_LUNGRADS_2;
        else c = d < 6 ? MED_LUNGRADS_2 : d < 8 ? MED_LUNGRADS_3 : d < 15 ? MED_LUNGRADS_4A : MED_LUNGRADS_4B;
        break;
    case MED_NODULE_PART_SOLID:
        c = d < 6 ? MED_LUNGRADS_2 : s < 6 ? MED_LUNGRADS_3 : s < 8 ? MED_LUNGRADS_4A : MED_LUNGRADS_4B;
        break;
    case MED_NODULE_GROUND_GLASS: c = d < 30 ? MED_LUNGRADS_2 : MED_LUNGRADS_3; break;
    default: return mc_error_set(err, MC_ERR_ARG, "Lung-RADS: unknown nodule type %d", (int)n->type);
    }
    if (n->airway && c < MED_LUNGRADS_4A) c = MED_LUNGRADS_4A;
    if (n->suspicious && c >= MED_LUNGRADS_3) c = MED_LUNGRADS_4X;
    *out = c;
    return MC_OK;
}

med_lungrads med_lungrads_exam(const med_lungrads *cats, int n) {
    med_lungrads c = MED_LUNGRADS_1;
    for (int i = 0; i < n; i++)
        if (cats[i] > c) c = cats[i];
    return c;
}

const char *med_lungrads_name(med_lungrads c) {
    static const char *const names[] = {"?", "1", "2", "3", "4A", "4B", "4X"};
    return c >= MED_LUNGRADS_1 && c <= MED_LUNGRADS_4X ? names[c] : "?";
}
