#!/usr/bin/python3
"""cad_baseline.py: a classical lung-nodule CAD, the textbook baseline the detector is compared with.

No learning, nothing of moe-medical's detector: for each CT volume (NIfTI-1, as `moe-medical convert`
writes them, one SERIES_UID.nii.gz per series)
1. resampled to 1 mm voxels (trilinear);
2. lung mask: voxels below -400 HU, the connected air regions that do not touch the sides of the
   volume (the air outside the body does), the two largest kept, closed by a 7 mm ball and filled
   slice by slice, so that nodules and vessels against the pleura are inside;
3. multi-scale Laplacian of Gaussian: the scale-normalised response -s^2 LoG_s(I) for s = 1 to 6 mm,
   the best over scales per voxel, and its 3D local maxima (5x5x5) inside the mask above 60 HU;
4. Hessian blobness at each maximum, at its best scale: with the eigenvalues ordered by magnitude
   |l1| >= |l2| >= |l3|, all negative for a bright blob, the ratio |l3| / |l1| (1 for a ball, near 0 for
   a vessel or a sheet);
5. score = LoG response x blobness; maxima closer than the larger one's radius (s sqrt(3)) to a
   higher-scoring one are dropped; the 300 best per series are written.
Output: a LUNA16 predictions CSV (seriesuid,coordX,coordY,coordZ,probability; world mm, DICOM LPS),
which `moe-medical eval` scores.

Usage: /usr/bin/python3 cad_baseline.py NIFTI_DIR OUT.csv     (needs Debian's python3-scipy)
"""
import csv
import gzip
import os
import struct
import sys

import numpy as np
from scipy import ndimage

SCALES = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
MIN_RESPONSE = 60.0
KEEP = 300


def read_nifti(path):
    """The voxels (x, y, z order) in HU, the voxel sizes and the 4x4 voxel-to-RAS matrix."""
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    endian = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    dim = struct.unpack(endian + "8h", raw[40:56])
    datatype = struct.unpack(endian + "h", raw[70:72])[0]
    pixdim = struct.unpack(endian + "8f", raw[76:108])
    vox_offset = int(struct.unpack(endian + "f", raw[108:112])[0])
    slope, inter = struct.unpack(endian + "2f", raw[112:120])
    srow = np.array(struct.unpack(endian + "12f", raw[280:328]), dtype=np.float64).reshape(3, 4)
    types = {4: "i2", 16: "f4", 2: "u1", 8: "i4", 512: "u2", 64: "f8"}
    nx, ny, nz = dim[1], dim[2], dim[3]
    v = np.frombuffer(raw, dtype=endian + types[datatype], count=nx * ny * nz, offset=vox_offset)
    v = v.reshape(nz, ny, nx).transpose(2, 1, 0).astype(np.float32)
    if slope not in (0.0, 1.0) or inter != 0.0:
        v = v * (slope if slope != 0 else 1.0) + inter
    affine = np.vstack([srow, [0, 0, 0, 1]])
    return v, np.array(pixdim[1:4], dtype=np.float64), affine


def lung_mask(iso):
    air = iso < -400
    labels, n = ndimage.label(air)
    if n == 0:
        return np.zeros_like(air)
    border = set(np.unique(np.concatenate([labels[0].ravel(), labels[-1].ravel(), labels[:, 0].ravel(),
                                           labels[:, -1].ravel()])))
    sizes = ndimage.sum(air, labels, index=np.arange(1, n + 1))
    order = [i + 1 for i in np.argsort(sizes)[::-1] if (i + 1) not in border]
    keep = np.isin(labels, order[:2])
    r = 3
    zz, yy, xx = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
    ball = xx * xx + yy * yy + zz * zz <= r * r + 1
    keep = ndimage.binary_closing(keep, structure=ball, iterations=1)
    for k in range(keep.shape[2]):
        keep[:, :, k] = ndimage.binary_fill_holes(keep[:, :, k])
    return keep


def blobness(iso, c, s):
    """|l3| / |l1| of the Hessian of iso smoothed at scale s at voxel c, 0 unless all three are negative."""
    h = int(np.ceil(4 * s)) + 1
    lo = [max(0, c[a] - h) for a in range(3)]
    hi = [min(iso.shape[a], c[a] + h + 1) for a in range(3)]
    crop = iso[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.float64)
    q = tuple(c[a] - lo[a] for a in range(3))
    hess = np.zeros((3, 3))
    for a in range(3):
        for b in range(a, 3):
            order = [0, 0, 0]
            order[a] += 1
            order[b] += 1
            hess[a, b] = hess[b, a] = ndimage.gaussian_filter(crop, s, order=order, mode="nearest")[q]
    lam = np.linalg.eigvalsh(hess)
    if np.any(lam >= 0):
        return 0.0
    mag = np.sort(np.abs(lam))[::-1]
    return float(mag[2] / mag[0])


def detect(path):
    v, spacing, affine = read_nifti(path)
    iso = ndimage.zoom(v, spacing, order=1, mode="nearest").astype(np.float32)
    mask = lung_mask(iso)
    best = np.full(iso.shape, -np.inf, dtype=np.float32)
    best_s = np.zeros(iso.shape, dtype=np.float32)
    for s in SCALES:
        r = -(s * s) * ndimage.gaussian_laplace(iso, s, mode="nearest")
        better = r > best
        best[better] = r[better]
        best_s[better] = s
    peaks = (best == ndimage.maximum_filter(best, size=5)) & mask & (best > MIN_RESPONSE)
    found = []
    for c in np.argwhere(peaks):
        c = tuple(int(x) for x in c)
        s = float(best_s[c])
        found.append((float(best[c]) * blobness(iso, c, s), c, s))
    found.sort(key=lambda f: -f[0])
    kept = []
    for score, c, s in found:
        if all(np.sum((np.array(c) - np.array(k[1])) ** 2) >= (max(s, k[2]) * np.sqrt(3)) ** 2 for k in kept):
            kept.append((score, c, s))
        if len(kept) == KEEP:
            break
    out = []
    for score, c, s in kept:
        # back to the volume's own voxel grid (zoom maps the first and last voxels onto each other)
        vox = np.array([c[a] * (v.shape[a] - 1) / max(1, iso.shape[a] - 1) for a in range(3)])
        ras = affine @ np.append(vox, 1.0)
        out.append((-ras[0], -ras[1], ras[2], score))
    return out


def main():
    folder, out = sys.argv[1], sys.argv[2]
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seriesuid", "coordX", "coordY", "coordZ", "probability"])
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".nii.gz"):
                continue
            uid = name[:-len(".nii.gz")]
            for x, y, z, score in detect(os.path.join(folder, name)):
                w.writerow([uid, "%.3f" % x, "%.3f" % y, "%.3f" % z, "%.6f" % score])


if __name__ == "__main__":
    main()
