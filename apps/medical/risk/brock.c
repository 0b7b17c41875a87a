/* brock.c: the Brock (PanCan) full model with spiculation (brock.h). */
#include "brock.h"

#include <math.h>
#include <strings.h>

static int is_flag(int v) { return v == 0 || v == 1; }

mc_status med_brock(const med_brock_input *in, double *logit, double *probability, mc_error *err) {
    if (!(in->age >= 0 && in->age <= 120)) return mc_error_set(err, MC_ERR_ARG, "Brock: age %g outside 0..120", in->age);
    if (!(in->size_mm > 0 && in->size_mm <= 300))
        return mc_error_set(err, MC_ERR_ARG, "Brock: nodule size %g mm outside (0, 300]", in->size_mm);
    if (in->nodule_count < 1) return mc_error_set(err, MC_ERR_ARG, "Brock: nodule count %d below 1", in->nodule_count);
    if (!is_flag(in->female) || !is_flag(in->family_history) || !is_flag(in->emphysema) || !is_flag(in->upper_lobe) ||
        !is_flag(in->spiculation))
        return mc_error_set(err, MC_ERR_ARG, "Brock: sex, family history, emphysema, upper lobe and spiculation must be 0 or 1");
    double type;
    switch (in->type) {
    case MED_NODULE_SOLID: type = 0; break;
    case MED_NODULE_PART_SOLID: type = 0.377; break;
    case MED_NODULE_GROUND_GLASS: type = -0.1276; break;
    default: return mc_error_set(err, MC_ERR_ARG, "Brock: unknown nodule type %d", (int)in->type);
    }
    double z = -6.7892 + 0.0287 * (in->age - 62) + 0.6011 * in->female + 0.2961 * in->family_history +
               0.2953 * in->emphysema - 5.3854 * (pow(in->size_mm / 10, -0.5) - 1.58113883) + type +
               0.6581 * in->upper_lobe - 0.0824 * (in->nodule_count - 4) + 0.7729 * in->spiculation;
    *logit = z;
    *probability = 1 / (1 + exp(-z));
    return MC_OK;
}

const char *med_nodule_type_name(med_nodule_type t) {
    switch (t) {
    case MED_NODULE_SOLID: return "solid";
    case MED_NODULE_PART_SOLID: return "part-solid";
    case MED_NODULE_GROUND_GLASS: return "ground-glass";
    default: return "unknown";
    }
}

int med_nodule_type_parse(const char *s, med_nodule_type *out) {
    static const struct {
        const char *name;
        med_nodule_type t;
    } names[] = {{"solid", MED_NODULE_SOLID},           {"part-solid", MED_NODULE_PART_SOLID},
                 {"partsolid", MED_NODULE_PART_SOLID},  {"part_solid", MED_NODULE_PART_SOLID},
                 {"ground-glass", MED_NODULE_GROUND_GLASS}, {"groundglass", MED_NODULE_GROUND_GLASS},
                 {"nonsolid", MED_NODULE_GROUND_GLASS}, {"non-solid", MED_NODULE_GROUND_GLASS},
                 {"ggn", MED_NODULE_GROUND_GLASS},      {"ggo", MED_NODULE_GROUND_GLASS},
                 {"gg", MED_NODULE_GROUND_GLASS}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) return *out = names[i].t, 0;
    return -1;
}
