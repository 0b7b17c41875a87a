"""make_markov_fixture.py: the log-likelihoods that statsmodels' Markov switching regression
(MarkovRegression with a switching mean and switching variance, i.e. a Gaussian HMM on one series)
reaches on the daily log returns in percent, 100 ln(C_t / C_{t-1}), of tests/finance/ttrc.csv, for
K = 2 and 3 regimes. moe-finance's regime model must reach at least these (tests/finance/test_regimes_ref.c).
Writes tests/finance/markov_fixture.json. Run from the repository root with Debian's Python:
    PYTHONNOUSERSITE=1 /usr/bin/python3 tests/finance/make_markov_fixture.py   (needs python3-statsmodels)"""
import json
import math
import os

import numpy as np
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

here = os.path.dirname(os.path.abspath(__file__))
closes = []
with open(os.path.join(here, "ttrc.csv")) as f:
    header = f.readline().strip().split(",")
    ci = header.index("close")
    for line in f:
        closes.append(float(line.strip().split(",")[ci]))
ret = 100.0 * np.diff(np.log(np.array(closes)))
out = {"series": "ttrc.csv close, 100 ln(C_t/C_t-1)", "T": int(len(ret)), "statsmodels": {}}
for k in (2, 3):
    best = -math.inf
    for seed in range(6):  # its default start, then seeded random searches; keep the best it reaches
        model = MarkovRegression(ret, k_regimes=k, trend="c", switching_variance=True)
        np.random.seed(seed)
        try:
            res = model.fit(search_reps=0 if seed == 0 else 10, disp=False)
        except np.linalg.LinAlgError:  # a random start can fail to converge; the others count
            continue
        if np.isfinite(res.llf):
            best = max(best, float(res.llf))
    out["statsmodels"][str(k)] = best
with open(os.path.join(here, "markov_fixture.json"), "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps(out))
