"""hmm_time.py: fits a 2-state Gaussian HMM to the daily log returns (%) of one price CSV with
hmmlearn (one start, full covariance, 200 iterations, tol 1e-6) and statsmodels' MarkovRegression
(switching mean and variance), printing time and log-likelihood of each as JSON lines.
Usage: python3 hmm_time.py FILE [hmmlearn|statsmodels]"""
import json
import sys
import time

import numpy as np

closes = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, usecols=4)
ret = 100 * np.diff(np.log(closes))
which = sys.argv[2] if len(sys.argv) > 2 else "hmmlearn"
if which == "hmmlearn":
    from hmmlearn.hmm import GaussianHMM
    t0 = time.perf_counter()
    m = GaussianHMM(n_components=2, covariance_type="full", n_iter=200, tol=1e-6, random_state=0, min_covar=1e-9)
    m.fit(ret.reshape(-1, 1))
    ll = m.score(ret.reshape(-1, 1))
else:
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression
    t0 = time.perf_counter()
    ll = MarkovRegression(ret, k_regimes=2, trend="c", switching_variance=True).fit(disp=False).llf
print(json.dumps({"impl": which, "T": len(ret), "seconds": round(time.perf_counter() - t0, 4), "loglik": round(float(ll), 4)}))
