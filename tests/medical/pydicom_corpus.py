#!/usr/bin/python3
"""pydicom_corpus.py: the reference that test_dicom_corpus compares moe-medical's DICOM reader with.

For every file under pydicom's test data (Debian's python3-pydicom), it records what pydicom makes
of it: the pixel values after Rescale Slope/Intercept as raw float32 (NNN.f32), the image size and
the geometry tags, in OUT/index.json. Files pydicom cannot decode here (no JPEG-LS plug-in, ...) are
compared with the pixels of their uncompressed original when the file is a lossless copy of one;
otherwise they are listed as skipped with the reason. Colour images are listed as "unsupported":
the CT reader must refuse them cleanly.

The reference is the same with and without Debian's python3-gdcm:
- pydicom's GDCM handler is left out. GDCM is the library moe-medical itself reads with, so it is no
  independent reference; and its binding hands back a buffer that GDCM failed to decode as if it had
  succeeded (JPEG2000-embedded-sequence-delimiter.dcm: the codestream's SIZ marker declares
  4,292,730,882 tiles, beyond the 65,535 that ISO/IEC 15444-1 allows; OpenJPEG refuses it, the
  binding returns 522,171 of the 524,288 bytes). Refusing that file is right.
- The sign is Pixel Representation (0028,0103) as the file states it, read before decoding: the
  data set's attribute describes the stored values (PS3.3 C.7.6.3.1), and pydicom's JPEG 2000
  corrections rewrite it in memory from the codestream's sign when GDCM decodes
  (J2K_pixelrep_mismatch.dcm: the codestream says unsigned 13-bit, the file signed; the values agree
  either way).

Usage: /usr/bin/python3 pydicom_corpus.py OUT_DIR
"""
import json
import os
import sys

import warnings

import numpy as np
import pydicom
import pydicom.config

pydicom.config.pixel_data_handlers = [h for h in pydicom.config.pixel_data_handlers if "gdcm" not in h.__name__]

LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
         "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203"}
# lossless copies of an uncompressed original in the same folder
TWINS = {"MR_small_RLE.dcm": "MR_small.dcm", "MR_small_jp2klossless.dcm": "MR_small.dcm",
         "MR_small_jpeg_ls_lossless.dcm": "MR_small.dcm", "MR_small_bigendian.dcm": "MR_small.dcm",
         "MR_small_expb.dcm": "MR_small.dcm", "MR_small_implicit.dcm": "MR_small.dcm",
         "emri_small_jpeg_ls_lossless.dcm": "emri_small.dcm", "emri_small_RLE.dcm": "emri_small.dcm",
         "emri_small_jpeg_2k_lossless.dcm": "emri_small.dcm", "emri_small_big_endian.dcm": "emri_small.dcm",
         "rtdose_rle.dcm": "rtdose.dcm", "rtdose_rle_1frame.dcm": "rtdose_1frame.dcm",
         "rtdose_expb.dcm": "rtdose.dcm", "rtdose_expb_1frame.dcm": "rtdose_1frame.dcm"}


def numbers(ds, keyword):
    v = ds.get(keyword)
    if v is None or v == "":
        return None
    try:
        return [float(x) for x in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v])]
    except (TypeError, ValueError):
        return None


def rescaled(ds):
    arr = ds.pixel_array.astype(np.float64)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    icpt = float(ds.get("RescaleIntercept", 0) or 0)
    return (arr * slope + icpt).astype(np.float32)


def main(out):
    warnings.simplefilter("ignore")
    root = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    os.makedirs(out, exist_ok=True)
    entries = []
    for folder, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            path = os.path.join(folder, name)
            e = {"path": path, "name": os.path.relpath(path, root)}
            entries.append(e)
            try:
                ds = pydicom.dcmread(path)
            except Exception as exc:  # not DICOM, or not readable by pydicom
                e.update(status="skip", reason="pydicom cannot read it: %s" % type(exc).__name__)
                continue
            if "PixelData" not in ds:
                e.update(status="skip", reason="no pixel data (not an image)")
                continue
            if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
                e.update(status="unsupported", reason="colour image")
                continue
            if "ModalityLUTSequence" in ds:
                e.update(status="skip", reason="Modality LUT Sequence (not used by CT)")
                continue
            signed = int(ds.get("PixelRepresentation", 0) or 0) == 1  # as the file states it
            try:
                values = rescaled(ds)
                e["source"] = "pydicom"
            except Exception as exc:
                twin = TWINS.get(name)
                if not twin:
                    e.update(status="skip", reason="pydicom cannot decode it here: %s" % str(exc).split("\n")[0][:120])
                    continue
                values = rescaled(pydicom.dcmread(os.path.join(folder, twin)))
                e["source"] = "uncompressed original " + twin
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            data = "%03d.f32" % len(entries)
            values.astype("<f4").tofile(os.path.join(out, data))
            ts = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
            e.update(status="compare", data=data, rows=int(ds.Rows), cols=int(ds.Columns), frames=frames,
                     lossy=ts in LOSSY, transfer_syntax=ts,
                     monochrome1=ds.get("PhotometricInterpretation", "") == "MONOCHROME1",
                     bits_allocated=int(ds.BitsAllocated), signed=signed,
                     position=numbers(ds, "ImagePositionPatient"),
                     orientation=numbers(ds, "ImageOrientationPatient"),
                     spacing=numbers(ds, "PixelSpacing"))
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(entries, f, indent=1)
    n = sum(e["status"] == "compare" for e in entries)
    print("%d files, %d to compare" % (len(entries), n))


if __name__ == "__main__":
    main(sys.argv[1])
