/* dicom_lengths.h: a check of a DICOM file's element lengths before the DICOM library reads it.
 *
 * GDCM allocates (and zero-fills) the length an element declares before it reads the value, so a
 * file of a few hundred bytes declaring a 4 GiB element costs 4 GiB before GDCM notices that the
 * file ends. med_dicom_check_lengths walks the file's element headers the way a DICOM reader does
 * (file meta group, then the data set in its transfer syntax: explicit or implicit VR, little or
 * big endian, sequences and items of defined or undefined length, encapsulated pixel data, a
 * deflated data set inflated within the memory budget), reading no values but the transfer syntax,
 * and fails where a declared length runs past the end of the file or of the item or sequence that
 * holds it. What it accepts, GDCM can read in memory bounded by the file's (inflated) size. */
#ifndef MED_DICOM_LENGTHS_H
#define MED_DICOM_LENGTHS_H

#include <stddef.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MC_OK when every length in path fits, with *holds the bytes a reader holds of it (the file's size,
 * or with the deflated transfer syntax the meta information and the inflated data set); MC_ERR_FORMAT naming the file, the element and the lengths
 * otherwise ("IMG1.dcm: element (7FE0,0010) declares 4294967040 bytes where 1022 remain: truncated
 * or corrupt"), or the deflated data set that inflates beyond the memory budget; MC_ERR_IO when
 * it cannot be read. */
mc_status med_dicom_check_lengths(const char *path, size_t *holds, mc_error *err);

#ifdef __cplusplus
}
#endif

#endif
