#!/usr/bin/python3
"""patchcore_baseline.py: a classical good-only defect detector to compare moe-factory's anomaly
scores with: PatchCore-style nearest-neighbour scoring over a fixed filter bank, with no learning.

Each image is read as grey, resized to SIZE x SIZE by area averaging and standardised by its own mean
and standard deviation. Per pixel: Gaussian derivative responses of orders (0,0), (0,1), (1,0),
(0,2), (1,1), (2,0) at sigmas 1, 2 and 4, and their local energies (the squared responses smoothed
at twice the sigma): 36 features, taken on a stride-4 grid as patch vectors, leaving out a border
of MARGIN pixels (default 8, twice the largest sigma) where the filters see mostly the reflected
image rather than the surface. A quarter of the training good images is held out; the features are
standardised over the other training patches, and the memory bank is a random subsample of at most
BANK of them. A patch scores its Euclidean distance to the nearest bank vector, an image its
highest patch score. The decision threshold is the 0.99 quantile of the held-out good images'
scores.

Reports image AUROC (rank statistic, ties counted half) and, at that threshold, accuracy,
false-alarm rate and recall over the test images, and the scoring time per test image.

Usage: patchcore_baseline.py --train-good DIR --test-good DIR --test-defect DIR [--size 128]
       [--bank 20000] [--seed 0] [--margin 8] [--json]
  --json prints one line {"auroc", "accuracy", "fpr", "recall", "threshold", "n_good", "n_defect",
  "ms_per_image"}; otherwise a readable line.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.stats import rankdata

ORDERS = ((0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (2, 0))
SIGMAS = (1.0, 2.0, 4.0)
STRIDE = 4


def list_pngs(folder):
    """The PNG files of a folder, sorted by name."""
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(".png"))
    if not files:
        sys.exit(f"patchcore_baseline.py: no PNG images in {folder}")
    return files


def load(path, size):
    """A grey image resized to size x size by area averaging, standardised by its own mean and std."""
    img = Image.open(path).convert("F").resize((size, size), Image.BOX)
    a = np.asarray(img, dtype=np.float64)
    return (a - a.mean()) / (a.std() + 1e-6)


def patch_features(img, margin):
    """Patch vectors (one row per stride-4 grid point at least margin pixels inside the image) of
    filter responses and local energies."""
    resp, energy = [], []
    for s in SIGMAS:
        for order in ORDERS:
            r = ndimage.gaussian_filter(img, s, order=order)
            resp.append(r)
            energy.append(ndimage.gaussian_filter(r * r, 2 * s))
    f = np.stack(resp + energy, -1)
    n = img.shape[0]
    keep = [i for i in range(STRIDE // 2, n, STRIDE) if margin <= i < n - margin]
    if not keep:
        sys.exit("patchcore_baseline.py: the margin leaves no patch")
    f = f[keep][:, keep]
    return f.reshape(-1, f.shape[-1]).astype(np.float32)


def features_of(files, size, margin):
    """Patch features of each file: a list of (patches, features) arrays."""
    return [patch_features(load(f, size), margin) for f in files]


def nearest_distance(queries, bank, chunk=1024):
    """Euclidean distance of each query row to its nearest bank row, in chunks (|a|^2 + |b|^2 - 2ab)."""
    b2 = (bank * bank).sum(1)
    out = np.empty(len(queries), dtype=np.float64)
    for s in range(0, len(queries), chunk):
        a = queries[s:s + chunk]
        d2 = (a * a).sum(1)[:, None] + b2[None, :] - 2 * (a @ bank.T)
        out[s:s + chunk] = np.sqrt(np.maximum(d2.min(1), 0))
    return out


def image_scores(feats, mean, std, bank):
    """Each image's score: the highest nearest-bank distance among its standardised patches."""
    counts = [len(f) for f in feats]
    d = nearest_distance((np.concatenate(feats) - mean) / std, bank)
    return np.array([p.max() for p in np.split(d, np.cumsum(counts)[:-1])])


def auroc(good, defect):
    """Area under the ROC curve by the rank statistic, ties counted half."""
    ranks = rankdata(np.concatenate([good, defect]))
    nd, ng = len(defect), len(good)
    return float((ranks[ng:].sum() - nd * (nd + 1) / 2) / (nd * ng))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-good", required=True)
    ap.add_argument("--test-good", required=True)
    ap.add_argument("--test-defect", required=True)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--bank", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--margin", type=int, default=8, help="border in pixels at SIZE left without patches")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)

    train = list_pngs(a.train_good)
    if len(train) < 2:
        sys.exit("patchcore_baseline.py: need at least 2 training good images")
    order = rng.permutation(len(train))
    n_hold = max(1, len(train) // 4)
    held = [train[i] for i in order[:n_hold]]
    fit = [train[i] for i in order[n_hold:]]

    patches = np.concatenate(features_of(fit, a.size, a.margin))
    mean, std = patches.mean(0), patches.std(0) + 1e-6
    pick = rng.choice(len(patches), min(a.bank, len(patches)), replace=False)
    bank = np.ascontiguousarray((patches[pick] - mean) / std)
    threshold = float(np.quantile(image_scores(features_of(held, a.size, a.margin), mean, std, bank), 0.99))

    good_files, defect_files = list_pngs(a.test_good), list_pngs(a.test_defect)
    t0 = time.perf_counter()
    scores = image_scores(features_of(good_files + defect_files, a.size, a.margin), mean, std, bank)
    ms = (time.perf_counter() - t0) * 1000 / len(scores)
    good, defect = scores[:len(good_files)], scores[len(good_files):]

    flagged_good, flagged_defect = good > threshold, defect > threshold
    res = dict(auroc=round(auroc(good, defect), 4),
               accuracy=round(float((len(good) - flagged_good.sum() + flagged_defect.sum()) / len(scores)), 4),
               fpr=round(float(flagged_good.mean()), 4), recall=round(float(flagged_defect.mean()), 4),
               threshold=round(threshold, 4), n_good=len(good), n_defect=len(defect), ms_per_image=round(ms, 2))
    if a.json:
        print(json.dumps(res))
    else:
        print(f"AUROC {res['auroc']:.3f}  accuracy {res['accuracy']:.3f}  false alarms {res['fpr']:.3f}  "
              f"recall {res['recall']:.3f}  threshold {res['threshold']:.3f}  "
              f"({res['n_good']} good, {res['n_defect']} defect, {res['ms_per_image']:.1f} ms per image)")


if __name__ == "__main__":
    main()
