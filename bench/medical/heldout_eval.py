#!/usr/bin/python3
"""heldout_eval.py: how a detector does on generated studies with known nodules (the phantom's
nodules.csv), from the candidates file of `moe-medical detect --candidates-out`:
  - CPM, the seven FROC points and the sensitivities at 0.3 and 1 false positives per scan, LUNA16's
    rules (a candidate hits a nodule when it lies within its radius; each nodule counts once with
    its best hit), each with a 95% percentile bootstrap interval over the scans (1000 resamples,
    seeded);
  - the sensitivity by nodule type and by size (under 6, 6-10, 10-20, 20 mm and over) at the score
    threshold that leaves at most 1 false positive per scan;
  - for every nodule hit by some candidate, the candidate that counts for it (its most probable
    hit): the diameter's mean absolute error (mm) and the type's accuracy, of the network
    (cnn_diameter_mm, type) and of the rules (the blob filter's diameter_mm, density_type), and
    the network's difference from the rules with a 95% paired bootstrap interval over those nodules.
Candidates files without the type columns (detectors without those heads) give the FROC figures only.
Also for predictions without those columns (a baseline's LUNA16 CSV: seriesuid,coordX,coordY,coordZ,probability).
Usage: heldout_eval.py NODULES_CSV CANDIDATES_CSV [N_SCANS]  -> one JSON object"""
import csv
import json
import math
import sys

import numpy as np


RATES = (0.125, 0.25, 0.5, 1, 2, 4, 8)


def froc(nodules, cands, scans):
    """CPM, the sensitivities at 0.3 and 1 false positives per scan, the seven FROC points, and each
    nodule's best hit score (-inf when missed): one curve point per distinct score, read off by
    numpy.interp as LUNA16 (and `moe-medical eval`) do."""
    best = {}
    fp = []
    for i, c in enumerate(cands):
        hit = False
        for j, n in enumerate(nodules):
            if n["uid"] == c["uid"] and math.dist(n["p"], c["p"]) < n["d"] / 2:
                hit = True
                best[j] = max(best.get(j, -math.inf), c["prob"])
        if not hit:
            fp.append(c["prob"])
    if not nodules:
        return None
    scores = sorted(set(fp) | set(best.values()), reverse=True)
    fp = np.sort(np.array(fp))[::-1]
    tp = np.sort(np.array(list(best.values())))[::-1]
    rate, sens = [0.0], [0.0]
    for t in scores:
        r = np.count_nonzero(fp >= t) / scans
        s = np.count_nonzero(tp >= t) / len(nodules)
        rate.append(r)
        sens.append(s)
    at = [float(np.interp(r, rate, sens)) for r in RATES + (0.3,)]
    return float(np.mean(at[:7])), at[7], at[3], at[:7], [best.get(j, -math.inf) for j in range(len(nodules))], fp


def at_one_fp(nodules, best, fp, scans):
    """Sensitivity by type and size class at the lowest score threshold leaving at most one false
    positive per scan."""
    allowed = int(scans)  # one per scan
    t = fp[allowed] if len(fp) > allowed else -math.inf  # fp is sorted high to low; marks above fp[allowed]
    def group(key):
        out = {}
        for n, b in zip(nodules, best):
            g = out.setdefault(key(n), [0, 0])
            g[0] += 1
            g[1] += b > t
        return {k: {"nodules": v[0], "sens_at_1": v[1] / v[0]} for k, v in sorted(out.items())}
    size = lambda n: "<6" if n["d"] < 6 else "6-10" if n["d"] < 10 else "10-20" if n["d"] < 20 else ">=20"
    return group(lambda n: n["type"]), group(size)


def main():
    nodules = [{"uid": r["seriesuid"], "p": (float(r["coordX"]), float(r["coordY"]), float(r["coordZ"])),
                "d": float(r["diameter_mm"]), "type": r["type"]} for r in csv.DictReader(open(sys.argv[1]))]
    rows = list(csv.DictReader(open(sys.argv[2])))
    cands = [{"uid": r["seriesuid"], "p": (float(r["coordX"]), float(r["coordY"]), float(r["coordZ"])),
              "prob": float(r["probability"]), "row": r} for r in rows]
    uids = sorted({c["uid"] for c in cands} | {n["uid"] for n in nodules})
    n_scans = int(sys.argv[3]) if len(sys.argv) > 3 else len(uids)
    cpm, s03, s1, points, best, fp = froc(nodules, cands, n_scans)
    by_type, by_size = at_one_fp(nodules, best, fp, n_scans)
    rng = np.random.default_rng(2024)
    by_uid_n = {u: [n for n in nodules if n["uid"] == u] for u in uids}
    by_uid_c = {u: [c for c in cands if c["uid"] == u] for u in uids}
    boot = []
    for _ in range(1000):
        pick = rng.choice(len(uids), size=len(uids), replace=True)
        ns, cs = [], []
        for k, i in enumerate(pick):  # a scan drawn twice counts twice: give each copy its own id
            u = uids[i]
            ns += [dict(n, uid=(u, k)) for n in by_uid_n[u]]
            cs += [dict(c, uid=(u, k)) for c in by_uid_c[u]]
        r = froc(ns, cs, len(uids))
        if r:
            boot.append(r[:3])
    boot = np.array(boot)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    # the counting candidate of each nodule hit: its most probable hit
    pairs = []
    for n in nodules:
        hits = [c for c in cands if c["uid"] == n["uid"] and math.dist(n["p"], c["p"]) < n["d"] / 2]
        if hits:
            pairs.append((n, max(hits, key=lambda c: c["prob"])["row"]))
    # candidates files of detectors before the diameter and type heads lack their columns
    pairs_h = pairs if rows and "cnn_diameter_mm" in rows[0] else []
    err_net = [abs(float(r["cnn_diameter_mm"]) - n["d"]) for n, r in pairs_h]
    err_rule = [abs(float(r["diameter_mm"]) - n["d"]) for n, r in pairs_h]
    acc_net = [r["type"] == n["type"] for n, r in pairs_h]
    acc_rule = [r["density_type"] == n["type"] for n, r in pairs_h]
    mean = lambda v: float(np.mean(v)) if v else None
    # network minus rule, with a 95% paired bootstrap interval over the nodules
    diff = {"diameter_mae_mm": None, "type_accuracy": None}
    if pairs_h:
        e = np.array(err_net) - np.array(err_rule)
        a = np.array(acc_net, dtype=float) - np.array(acc_rule, dtype=float)
        draws = rng.integers(0, len(e), size=(1000, len(e)))
        for key, v in (("diameter_mae_mm", e), ("type_accuracy", a)):
            lo_d, hi_d = np.percentile(v[draws].mean(axis=1), [2.5, 97.5])
            diff[key] = [float(v.mean()), float(lo_d), float(hi_d)]
    print(json.dumps({
        "scans": n_scans, "nodules": len(nodules), "nodules_hit": len(pairs),
        "cpm": cpm, "cpm_lo": float(lo[0]), "cpm_hi": float(hi[0]),
        "sens_at_0.3": s03, "sens_at_0.3_lo": float(lo[1]), "sens_at_0.3_hi": float(hi[1]),
        "sens_at_1": s1, "sens_at_1_lo": float(lo[2]), "sens_at_1_hi": float(hi[2]),
        "froc": dict(zip([str(r) for r in RATES], points)), "by_type_at_1": by_type, "by_size_at_1": by_size,
        "diameter_mae_mm_network": mean(err_net), "diameter_mae_mm_blob": mean(err_rule),
        "type_accuracy_network": mean(acc_net), "type_accuracy_density": mean(acc_rule),
        "network_minus_rule": diff,
        "pairs": [{"d": n["d"], "type": n["type"], "net_d": float(r["cnn_diameter_mm"]), "net_type": r["type"],
                   "blob_d": float(r["diameter_mm"]), "density_type": r["density_type"],
                   "p": float(r["probability"])} for n, r in pairs_h]}))


if __name__ == "__main__":
    main()
