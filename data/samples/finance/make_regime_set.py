#!/usr/bin/python3
"""make_regime_set.py: writes regimes/, a multi-asset daily price set from a two-state market
regime-switching model with known regimes and a planted regime-dependent signal, and
regimes_truth.csv with the true regime of every day. Deterministic: numpy's PCG64, seed 20261129.
Run from this folder: /usr/bin/python3 make_regime_set.py

The market is bull (mean +0.06%, volatility 0.8% a day) or bear (mean -0.10%, volatility 2.0%),
staying with probability 0.99 and 0.97 a day (expected spells of 100 and 33 days). Each of six
symbols returns beta times the market, plus an idiosyncratic part (0.6% a day), plus a planted
signal: phi times its own return of the day before, phi = +0.25 in bull markets (momentum) and
-0.25 in bear markets (reversal). A linear model of the last return sees the two cancel in part;
a model that knows the regime (from the volatility) can use both."""
import datetime

import numpy as np

rng = np.random.Generator(np.random.PCG64(20261129))
days = 2500
symbols = ["RSA", "RSB", "RSC", "RSD", "RSE", "RSF"]
betas = [0.8, 0.9, 1.0, 1.0, 1.1, 1.2]
stay = {0: 0.99, 1: 0.97}           # 0 bull, 1 bear
mean = {0: 0.0006, 1: -0.0010}
vol = {0: 0.008, 1: 0.020}
phi = {0: 0.25, 1: -0.25}

dates = []
d = datetime.date(2015, 1, 2)
while len(dates) < days:
    if d.weekday() < 5:
        dates.append(d)
    d += datetime.timedelta(days=1)

regime = np.zeros(days, dtype=int)
for t in range(1, days):
    regime[t] = regime[t - 1] if rng.random() < stay[regime[t - 1]] else 1 - regime[t - 1]
market = np.array([rng.normal(mean[s], vol[s]) for s in regime])

with open("regimes_truth.csv", "w") as f:
    f.write("date,regime\n")
    for t in range(days):
        f.write(f"{dates[t].isoformat()},{'bear' if regime[t] else 'bull'}\n")

for sym, beta in zip(symbols, betas):
    r = np.zeros(days)
    for t in range(days):
        carry = phi[regime[t - 1]] * r[t - 1] if t > 0 else 0.0
        r[t] = beta * market[t] + rng.normal(0, 0.006) + carry
    close = 40.0 * np.exp(np.cumsum(r))
    with open(f"regimes/{sym}.csv", "w") as f:
        f.write("date,open,high,low,close,volume\n")
        prev = 40.0
        for t in range(days):
            o = prev * np.exp(rng.normal(0, 0.001))
            c = close[t]
            spread = vol[regime[t]] * 0.5
            hi = max(o, c) * np.exp(abs(rng.normal(0, spread)))
            lo = min(o, c) * np.exp(-abs(rng.normal(0, spread)))
            v = int(rng.lognormal(13.0 + 0.5 * regime[t], 0.3))
            f.write(f"{dates[t].isoformat()},{o:.4f},{hi:.4f},{lo:.4f},{c:.4f},{v}\n")
            prev = c
