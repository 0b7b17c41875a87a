#!/usr/bin/python3
"""fusion_auc.py: how well a detector file's malignancy fusion ranks generated studies by the
phantom's malignancy label, beside the Brock model: each study with a nodule is scored on its largest
nodule (diameter and type from nodules.csv) with its clinical record (the columns, and the pack-years
of the note, as moe-medical reads them), and the ROC AUC of each score against truth.csv is printed.
Usage: fusion_auc.py MODEL PHANTOM_DIR  -> one JSON object"""
import csv
import json
import math
import re
import struct
import sys


def fusion_weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n))["__metadata__"]
    return json.loads(meta["med.fusion"])["w"]


def auc(score, label):
    pos = [s for s, l in zip(score, label) if l]
    neg = [s for s, l in zip(score, label) if not l]
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))


def main():
    w = fusion_weights(sys.argv[1])
    root = sys.argv[2]
    largest, count = {}, {}
    for r in csv.DictReader(open(f"{root}/nodules.csv")):
        uid, d = r["seriesuid"], float(r["diameter_mm"])
        count[uid] = count.get(uid, 0) + 1
        if uid not in largest or d > largest[uid][0]:
            largest[uid] = (d, r["type"])
    clin = {r["seriesuid"]: r for r in csv.DictReader(open(f"{root}/clinical.csv"))}
    truth = {r["seriesuid"]: int(r["malignant"]) for r in csv.DictReader(open(f"{root}/truth.csv"))}
    fused, brock, label = [], [], []
    for uid, (d, t) in sorted(largest.items()):
        c = clin[uid]
        m = re.search(r"(\d+(?:\.\d+)?) pack-years", c["note"])
        packs = float(m.group(1)) if m else 0.0 if c["smoking"] == "never" else math.nan
        x = [1, (d - 8) / 10, t == "part-solid", t == "ground-glass", (float(c["age"]) - 62) / 10, c["sex"] == "F",
             c["family_history"] == "1", c["emphysema"] == "1", 0 if math.isnan(packs) else packs / 10,
             c["smoking"] == "current", c["smoking"] == "former"]
        fused.append(1 / (1 + math.exp(-sum(a * float(b) for a, b in zip(w, x)))))
        z = (-6.7892 + 0.0287 * (float(c["age"]) - 62) + 0.6011 * (c["sex"] == "F") + 0.2961 * (c["family_history"] == "1")
             + 0.2953 * (c["emphysema"] == "1") - 5.3854 * ((d / 10) ** -0.5 - 1.58113883)
             + {"solid": 0, "part-solid": 0.377, "ground-glass": -0.1276}[t] - 0.0824 * (count[uid] - 4))
        brock.append(1 / (1 + math.exp(-z)))
        label.append(truth[uid])
    print(json.dumps({"studies": len(label), "malignant": sum(label), "auc_fusion": auc(fused, label),
                      "auc_brock": auc(brock, label)}))


if __name__ == "__main__":
    main()
