/* nifti_out.c: NIfTI-1 output through nifticlib (nifti_out.h). */
#include "nifti_out.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nifti1_io.h>

#include "moecore/outfile.h"

void med_nifti_affine(const med_volume *v, double m[4][4]) {
    static const double lps_to_ras[3] = {-1, -1, 1};
    for (int a = 0; a < 3; a++) {
        for (int d = 0; d < 3; d++) m[a][d] = lps_to_ras[a] * v->dir[d][a] * v->spacing[d];
        m[a][3] = lps_to_ras[a] * v->origin[a];
    }
    m[3][0] = m[3][1] = m[3][2] = 0;
    m[3][3] = 1;
}

static int all_int16(const med_volume *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = v->hu[i];
        if (x != rintf(x) || x < INT16_MIN || x > INT16_MAX) return 0;
    }
    return 1;
}

mc_status med_nifti_write(const char *path, const med_volume *v, mc_error *err) {
    size_t n = (size_t)v->nx * (size_t)v->ny * (size_t)v->nz;
    size_t len = strlen(path);
    int gz = len > 3 && strcmp(path + len - 3, ".gz") == 0;
    if (!(len > 4 && (strcmp(path + len - 4, ".nii") == 0 || (gz && len > 7 && strcmp(path + len - 7, ".nii.gz") == 0))))
        return mc_error_set(err, MC_ERR_ARG, "%s: the output name must end with .nii or .nii.gz", path);
    mc_outfile out; /* its temporary name ends as path does: libnifti compresses by the extension */
    mc_status st = mc_outfile_begin(&out, path, err);
    if (st != MC_OK) return st;

    int integer = all_int16(v, n);
    int dims[8] = {3, v->nx, v->ny, v->nz, 1, 1, 1, 1};
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_make_new_nim(dims, integer ? DT_INT16 : DT_FLOAT32, 1);
    if (!nim) return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    if (integer) {
        int16_t *d = nim->data;
        for (size_t i = 0; i < n; i++) d[i] = (int16_t)v->hu[i];
    } else {
        memcpy(nim->data, v->hu, n * sizeof(float));
    }
    nim->dx = nim->pixdim[1] = (float)v->spacing[0];
    nim->dy = nim->pixdim[2] = (float)v->spacing[1];
    nim->dz = nim->pixdim[3] = (float)v->spacing[2];
    nim->xyz_units = NIFTI_UNITS_MM;
    snprintf(nim->descrip, sizeof nim->descrip, "moe-medical CT, Hounsfield units");
    double a[4][4];
    med_nifti_affine(v, a);
    mat44 m;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) m.m[r][c] = (float)a[r][c];
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sto_xyz = m;
    nim->sto_ijk = nifti_mat44_inverse(m);
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    float dx, dy, dz, qfac;
    nifti_mat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                           &nim->qoffset_z, &dx, &dy, &dz, &qfac);
    nim->qfac = qfac;
    nim->qto_xyz = nifti_quatern_to_mat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                          nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
    nim->qto_ijk = nifti_mat44_inverse(nim->qto_xyz);
    if (nifti_set_filenames(nim, out.tmp, 0, 1) != 0) {
        st = mc_error_set(err, MC_ERR_ARG, "%s: not a NIfTI file name", path);
    } else {
        /* write header and data, leaving the file open so that closing it (the gzip flush) is checked */
        znzFile fp = nifti_image_write_hdr_img(nim, 3, gz ? "wb1" : "wb");
        if (znz_isnull(fp) || Xznzclose(&fp) != 0) st = mc_error_set(err, MC_ERR_IO, "%s: cannot write", path);
        else st = mc_outfile_commit(&out, err);
    }
    if (st != MC_OK) mc_outfile_abort(&out);
    nifti_image_free(nim);
    return st;
}
