#!/usr/bin/env python3
"""Writes tests/finance/hmm_fixture.json: reference fits of hmmlearn's GaussianHMM for test_hmm.c.

Run it from the repository root in a virtual environment holding hmmlearn (a --user install pulls
a numpy 2 that shadows Debian's numpy 1.24 and breaks Debian's pandas, so keep it in a venv):

    /usr/bin/python3 -m venv /tmp/hmmvenv
    /tmp/hmmvenv/bin/pip install hmmlearn
    /tmp/hmmvenv/bin/python tests/finance/make_hmm_fixtures.py

(hmmlearn 0.3.3 with numpy 2.4 wrote the committed file.) The JSON is committed, so the test needs no Python.

Two seeded synthetic series:
  * "two_state": T = 600, D = 2, daily returns in percent of two assets. State 0 is a bull regime
    (positive means, low variance), state 1 a bear regime (negative means, high variance, higher
    correlation); sticky transitions. hmmlearn's GaussianHMM(covariance_type="full", n_iter=200,
    tol=1e-6) is fitted with min_covar=1e-9 (its default 1e-3 would be a visible prior on data of
    this scale; ours adds 1e-6 times the feature variance), and the file holds the parameters it
    reaches, its log-likelihood (score), its Viterbi path and its posteriors for the first 50 bars.
  * "three_state": T = 900, D = 1, three well separated states, with hmmlearn's 3-state fit.
Series values are written with repr(), which round-trips doubles exactly.
"""
import json
import os

import numpy as np
from hmmlearn.hmm import GaussianHMM


def simulate(rng, T, pi, A, means, covs):
    K = len(pi)
    states = np.empty(T, dtype=int)
    states[0] = rng.choice(K, p=pi)
    for t in range(1, T):
        states[t] = rng.choice(K, p=A[states[t - 1]])
    x = np.array([rng.multivariate_normal(means[s], covs[s]) for s in states])
    return x, states


def fit(x, K, seed):
    m = GaussianHMM(n_components=K, covariance_type="full", n_iter=200, tol=1e-6,
                    min_covar=1e-9, random_state=seed)
    m.fit(x)
    return m


def model_json(m, x):
    return {
        "startprob": m.startprob_.tolist(),
        "transmat": m.transmat_.tolist(),
        "means": m.means_.tolist(),
        "covars": m.covars_.tolist(),
        "loglik": float(m.score(x)),
        "iterations": int(m.monitor_.iter),
        "converged": bool(m.monitor_.converged),
    }


def main():
    rng = np.random.default_rng(20240611)
    out = {"generator": "tests/finance/make_hmm_fixtures.py", "hmmlearn_options":
           "GaussianHMM(covariance_type='full', n_iter=200, tol=1e-6, min_covar=1e-9)"}

    # Two-state, two-dimensional: bull and bear regimes.
    pi = np.array([0.5, 0.5])
    A = np.array([[0.98, 0.02], [0.04, 0.96]])
    means = np.array([[0.08, 0.05], [-0.15, -0.12]])
    covs = np.array([[[0.60, 0.25], [0.25, 0.50]], [[4.0, 2.9], [2.9, 3.6]]])
    x2, s2 = simulate(rng, 600, pi, A, means, covs)
    m2 = fit(x2, 2, 7)
    _, path = m2.decode(x2, algorithm="viterbi")
    post = m2.predict_proba(x2)[:50]
    entry = model_json(m2, x2)
    entry.update({"T": 600, "D": 2, "x": x2.ravel().tolist(), "true_states": s2.tolist(),
                  "viterbi": path.tolist(), "posteriors_first50": post.tolist()})
    out["two_state"] = entry

    # Three-state, one-dimensional.
    pi = np.array([1 / 3, 1 / 3, 1 / 3])
    A = np.array([[0.95, 0.03, 0.02], [0.03, 0.94, 0.03], [0.02, 0.03, 0.95]])
    means = np.array([[-1.5], [0.0], [1.5]])
    covs = np.array([[[0.25]], [[0.16]], [[0.25]]])
    x3, s3 = simulate(rng, 900, pi, A, means, covs)
    m3 = fit(x3, 3, 7)
    entry = model_json(m3, x3)
    entry.update({"T": 900, "D": 1, "x": x3.ravel().tolist(), "true_states": s3.tolist()})
    out["three_state"] = entry

    path_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hmm_fixture.json")
    with open(path_out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path_out}: two_state loglik {out['two_state']['loglik']:.6f}, "
          f"three_state loglik {out['three_state']['loglik']:.6f}")


if __name__ == "__main__":
    main()
