#!/usr/bin/python3
"""regime_ceiling.py: how much of the planted signal of data/samples/finance/regimes a forecaster
can reach at best. The set's next-day return carries phi(regime) x today's return (phi = +0.25 in
bull markets, -0.25 in bear markets; make_regime_set.py), so two reference forecasts are scored:
  true regime      phi(true regime of today) x today's log return (needs the truth file);
  filtered HMM     (p_bull - p_bear) x today's log return, with the walk-forward filtered regime
                   probabilities that `moe-finance backtest --signals-out` writes (what the
                   forecaster's regime inputs hold).
Prints, as JSON, their information coefficients (Pearson, against the next-day log return) over
the dates that `moe-finance train` validates on (its latest --val-fraction 0.2 of the dates) and
over the second half of the dates (where `train --walk-forward` predicts).

Usage (from the repository root, after building):
  build/apps/moe-finance --db /tmp/rc.db backtest --signals-out /tmp/rc.csv data/samples/finance/regimes
  /usr/bin/python3 bench/finance/regime_ceiling.py /tmp/rc.csv data/samples/finance/regimes \
      data/samples/finance/regimes_truth.csv
"""
import csv
import json
import math
import os
import sys


def pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / math.sqrt(saa * sbb)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: regime_ceiling.py SIGNALS.csv PRICES_DIR TRUTH.csv")
    signals, prices, truth_path = sys.argv[1:]
    with open(truth_path) as f:
        truth = {r["date"]: r["regime"] for r in csv.DictReader(f)}
    closes = {}
    for name in sorted(os.listdir(prices)):
        if name.endswith(".csv"):
            with open(os.path.join(prices, name)) as f:
                rows = list(csv.DictReader(f))
            closes[name[:-4]] = ({r["date"]: i for i, r in enumerate(rows)}, [float(r["close"]) for r in rows])
    dates = sorted(truth)
    periods = {"holdout": set(dates[int(len(dates) * 0.8):]), "second_half": set(dates[len(dates) // 2:])}
    got = {p: {"true": [], "filtered": [], "outcome": []} for p in periods}
    with open(signals) as f:
        for r in csv.DictReader(f):
            index, close = closes[r["symbol"]]
            t = index[r["date"]]
            if t < 1 or t + 1 >= len(close):
                continue
            today = math.log(close[t] / close[t - 1])
            p_bull = float(r["p_bull"])
            for p, days in periods.items():
                if r["date"] in days:
                    got[p]["true"].append((0.25 if truth[r["date"]] == "bull" else -0.25) * today)
                    got[p]["filtered"].append(0.25 * (2 * p_bull - 1) * today)
                    got[p]["outcome"].append(math.log(close[t + 1] / close[t]))
    out = {}
    for p, g in got.items():
        out[p] = {"rows": len(g["outcome"]),
                  "ic_true_regime": round(pearson(g["true"], g["outcome"]), 4),
                  "ic_filtered_hmm": round(pearson(g["filtered"], g["outcome"]), 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
