/* dicom.h: DICOM files for moe-medical, a C interface over GDCM (dicom_gdcm.cpp). It finds the
 * DICOM files under folders and reads the header fields that series building needs, decodes the
 * pixels of one file into rescaled values (every transfer syntax GDCM decodes), and writes CT
 * slices (uncompressed or losslessly compressed). No C++ exception crosses this interface: every
 * failure comes back as an mc_status with a message naming the file. */
#ifndef MOE_MEDICAL_DICOM_H
#define MOE_MEDICAL_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MED_UID_MAX 65 /* 64 characters and the NUL */

/* The header of one DICOM file: text values as stored, trimmed of padding; numeric values parsed
 * by series.c from the text. An absent element is an empty string. */
typedef struct med_dicom_header {
    char *path;                            /* owned */
    int unreadable;                        /* starts like DICOM ("DICM" at byte 128) but cannot be
                                              parsed: truncated or corrupt; the fields are empty */
    char problem[200];                     /* why, when unreadable (without the path) */
    char study_uid[MED_UID_MAX];           /* (0020,000D) */
    char series_uid[MED_UID_MAX];          /* (0020,000E) */
    char sop_uid[MED_UID_MAX];             /* (0008,0018) */
    char sop_class[MED_UID_MAX];           /* (0008,0016) */
    char transfer_syntax[MED_UID_MAX];     /* (0002,0010) */
    char modality[17];                     /* (0008,0060) */
    char image_type[128];                  /* (0008,0008), e.g. ORIGINAL\PRIMARY\AXIAL */
    char patient_id[65];                   /* (0010,0020): hashed before it is stored, never kept */
    char study_date[17];                   /* (0008,0020) */
    char series_number[17];                /* (0020,0011) */
    char series_description[65];           /* (0008,103E) */
    char manufacturer[65];                 /* (0008,0070) */
    char position[96];                     /* (0020,0032) Image Position (Patient) */
    char orientation[160];                 /* (0020,0037) Image Orientation (Patient) */
    char pixel_spacing[64];                /* (0028,0030) */
    char slice_thickness[17];              /* (0018,0050) */
    char gantry_tilt[17];                  /* (0018,1120) Gantry/Detector Tilt */
    char rows[8];                          /* (0028,0010) */
    char columns[8];                       /* (0028,0011) */
    char frames[13];                       /* (0028,0008) Number of Frames */
    char samples_per_pixel[8];             /* (0028,0002) */
} med_dicom_header;

/* Finds every regular file under the n paths (folders recursively, files as given) and reads the
 * headers of those that are DICOM. *out (n_out entries, sorted by path) and their paths are owned
 * by the caller: med_dicom_headers_free. Files with the DICOM magic that cannot be parsed are in
 * *out marked unreadable; *n_other counts the files that are not DICOM. A path that
 * does not exist is MC_ERR_IO naming it. */
mc_status med_dicom_scan(const char *const *paths, int n, med_dicom_header **out, int *n_out, int *n_other,
                         mc_error *err);
void med_dicom_headers_free(med_dicom_header *h, int n);

/* The decoded pixels of one file: stored values (sign-extended from Bits Stored where signed)
 * times Rescale Slope plus Rescale Intercept (1 and 0 when absent), in Hounsfield units for CT.
 * MONOCHROME1 only changes how a viewer displays the values, so it leaves them as they are;
 * inverted tells that it was set. values[(f * rows + r) * cols + c]; owned, freed with
 * med_dicom_image_free. */
typedef struct med_dicom_image {
    int cols, rows, frames;
    int bits_allocated, bits_stored, is_signed;
    int inverted;             /* MONOCHROME1 */
    double slope, intercept;
    float *values;
} med_dicom_image;

/* Reads and decodes path. MC_ERR_FORMAT for a file that is not DICOM, truncated or corrupt;
 * MC_ERR_UNSUPPORTED for colour images, compression GDCM cannot decode or more than 32 bits. */
mc_status med_dicom_read_image(const char *path, med_dicom_image *out, mc_error *err);
void med_dicom_image_free(med_dicom_image *img);

/* Transfer syntaxes for writing. */
typedef enum med_dicom_codec {
    MED_CODEC_EXPLICIT_LE = 0, /* Explicit VR Little Endian (uncompressed) */
    MED_CODEC_IMPLICIT_LE,     /* Implicit VR Little Endian (uncompressed) */
    MED_CODEC_RLE,             /* RLE Lossless */
    MED_CODEC_JPEG_LS,         /* JPEG-LS Lossless */
    MED_CODEC_JPEG_LOSSLESS,   /* JPEG Lossless, first-order prediction (process 14 SV1) */
    MED_CODEC_JPEG2000,        /* JPEG 2000 Lossless Only */
    MED_CODEC_COUNT
} med_dicom_codec;

/* One axial CT slice to write as a CT Image Storage file. pixels holds rows * cols stored values,
 * read as uint16 when is_unsigned is set and as int16 otherwise. Text fields may be NULL (left
 * out). */
typedef struct med_dicom_slice {
    const char *study_uid, *series_uid, *sop_uid, *frame_of_reference_uid;
    const char *patient_name, *patient_id, *patient_birth_date, *patient_sex, *patient_age;
    const char *study_date, *study_time, *series_description, *manufacturer;
    int series_number, instance_number;
    int rows, cols;
    const int16_t *pixels;
    int is_unsigned;
    double slope, intercept;
    double position[3];       /* Image Position (Patient), mm */
    double orientation[6];    /* Image Orientation (Patient) */
    double pixel_spacing[2];  /* row spacing, column spacing, mm */
    double slice_thickness;   /* mm */
    double kvp;
    med_dicom_codec codec;
} med_dicom_slice;

/* Writes s to path. MC_ERR_IO when the file cannot be written, MC_ERR_UNSUPPORTED when the codec
 * failed. */
mc_status med_dicom_write_slice(const char *path, const med_dicom_slice *s, mc_error *err);

/* The transfer syntax UID of a codec, and its short name ("rle", "jpeg-ls", ...). */
const char *med_dicom_codec_uid(med_dicom_codec c);
const char *med_dicom_codec_name(med_dicom_codec c);

/* The SHA-1 of the n bytes at data as 40 lowercase hex digits and a NUL, for pseudonyms. */
mc_status med_dicom_sha1_hex(const void *data, size_t n, char hex[41]);

#ifdef __cplusplus
}
#endif
#endif
