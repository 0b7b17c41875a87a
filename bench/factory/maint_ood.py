#!/usr/bin/env python3
"""maint_ood.py: a fleet for judging `moe-factory maintain` on data it was not designed around.

It shares no code and no equations with `maintain synth` (apps/factory/maintain/fleet_synth.c) and
writes the same CSV format (`sensors.csv`: machine_id,timestamp,setting_load,setting_speed,temp,
pressure,vib,current; `failures.csv`: machine_id,failure_time). What differs:

- four operating points (load 0.3, 0.55, 0.8, 1.0) with jitter instead of three clean ones, and a
  per-machine gearing between load and speed;
- machines of different ages: older ones run warmer and shake more, and wear out sooner;
- wear accumulates with load (dw/dt proportional to 0.5 + load) from a random onset, and the machine
  fails when it reaches 1; the health index is w^p with a per-machine shape p;
- four failure modes with their own signatures (bearing: broadband vibration and a 3.2-hour
  oscillation; cooling: temperature rising with load; seal leak: pressure falling and getting
  noisier; winding: current rising with more frequent spikes), and a second, weaker mode in some
  machines; some failures come fast (24-60 h of wear) and cannot be warned far ahead;
- per-machine noise levels with heavy tails (Student t, 5 degrees of freedom), occasional spikes,
  slow calibration drift of temperature and pressure on every machine;
- sampling every 0.5, 1 or 2 hours per machine with jitter, dropped samples, outages of 6-36 h,
  empty readings;
- censored machines whose log ends while healthy (no failure row).

Usage: maint_ood.py --out DIR [--machines N] [--seed S]
"""
import argparse
import datetime as dt
import os

import numpy as np

EPOCH = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
LOADS = np.array([0.3, 0.55, 0.8, 1.0])
MODES = ("bearing", "cooling", "seal", "winding")
STEP = 0.25  # hours of the hidden-state grid


def stamp(hours):
    t = EPOCH + dt.timedelta(hours=float(hours))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def machine(rng, idx, censored_share):
    """One machine: (rows of text, failure time or None, mode name or None)."""
    age = rng.uniform(0, 1)
    start = rng.uniform(0, 500)
    censored = rng.uniform() < censored_share
    onset = rng.uniform(100, 900) * (1 - 0.4 * age)
    fast = rng.uniform() < 0.08
    wear_h = rng.uniform(24, 60) if fast else rng.uniform(100, 400) * (1 - 0.3 * age)
    shape = rng.uniform(1.2, 3.0)
    mode = int(rng.integers(len(MODES)))
    second = int(rng.integers(len(MODES))) if rng.uniform() < 0.15 else -1
    horizon_h = onset + 3 * wear_h + 200  # enough grid for the wear to reach 1
    if censored:
        end = rng.uniform(200, 1200)
        onset = end + 1e6  # the log ends while healthy
        horizon_h = end
    n = int(horizon_h / STEP) + 2
    grid = np.arange(n) * STEP
    # operating points held for 8-60 h
    level = np.empty(n, dtype=int)
    i = 0
    while i < n:
        k = int(rng.uniform(8, 60) / STEP)
        level[i:i + k] = rng.integers(len(LOADS))
        i += k
    load = LOADS[level]
    wear = np.clip(np.cumsum((0.5 + load) * STEP * (grid >= onset)) / wear_h, 0, None)
    failure = None
    if not censored:
        hit = np.nonzero(wear >= 1)[0]
        failure = grid[hit[0]]
        end = failure
    health = np.minimum(wear, 1) ** shape
    sev = np.zeros((len(MODES), n))
    sev[mode] = health
    if second >= 0 and second != mode:
        sev[second] = 0.5 * health
    # slow calibration drift (random walk) of temperature and pressure
    drift_t = np.cumsum(rng.normal(0, 0.04 * np.sqrt(STEP), n))
    drift_p = np.cumsum(rng.normal(0, 0.004 * np.sqrt(STEP), n))
    # sample times: every 0.5, 1 or 2 h with jitter, some dropped, outages
    every = rng.choice([0.5, 1.0, 2.0], p=[0.25, 0.5, 0.25])
    base = np.arange(every, end, every)
    t = base + rng.uniform(-0.1, 0.1, len(base)) * every
    t = t[(t > 0) & (t < end)]
    keep = rng.uniform(size=len(t)) >= 0.05
    out_start = t[rng.uniform(size=len(t)) < 0.005 * every]
    for s in out_start:
        keep &= ~((t >= s) & (t < s + rng.uniform(6, 36)))
    t = np.sort(t[keep])
    g = np.minimum((t / STEP).astype(int), n - 1)
    m = len(t)
    nu = rng.uniform(0.7, 1.5)  # this machine's noise level

    def noise(scale):
        return scale * nu * rng.standard_t(5, m)

    ld = load[g] + rng.normal(0, 0.03, m)
    gear = rng.uniform(-0.1, 0.1)
    sp = 1.0 + 0.8 * load[g] + gear + rng.normal(0, 0.02, m)
    b, c, s_, w = sev[0][g], sev[1][g], sev[2][g], sev[3][g]
    temp = 45 + 2.0 * age + 32 * ld + 10 * c * (0.5 + ld) + 3 * w + drift_t[g] + noise(0.9)
    pres = 6 + 2.5 * ld - 1.5 * s_ + drift_p[g] + noise(0.12) * (1 + 2 * s_)
    phase = rng.uniform(0, 2 * np.pi)
    vib = (0.4 + 0.1 * age + 0.7 * sp + 0.1 * b + 0.45 * b * np.sin(2 * np.pi * t / 3.2 + phase)
           + noise(0.07) * (1 + 1.5 * b))
    spikes = rng.uniform(size=m) < 0.002 + 0.05 * w
    cur = 18 + 16 * ld + 0.6 * b + 1.5 * c + 2.5 * w + noise(0.45) + spikes * rng.uniform(2, 6, m)
    vals = np.stack([ld, sp, temp, pres, vib, cur], axis=1)
    # occasional spikes on any sensor and empty readings
    spike = rng.uniform(size=vals.shape) < 0.003
    vals[:, 2:] = np.where(spike[:, 2:], vals[:, 2:] * rng.uniform(0.8, 1.25, (m, 4)), vals[:, 2:])
    empty = rng.uniform(size=vals.shape) < 0.02
    ident = f"P{idx + 1:04d}"
    fmts = ("{:.3f}", "{:.3f}", "{:.2f}", "{:.3f}", "{:.4f}", "{:.2f}")
    rows = []
    for k in range(m):
        cells = ["" if empty[k, j] else fmts[j].format(vals[k, j]) for j in range(6)]
        rows.append(f"{ident},{stamp(start + t[k])}," + ",".join(cells))
    fail = None if failure is None else (ident, stamp(start + failure))
    return rows, fail, None if failure is None else MODES[mode]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--machines", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--censored", type=float, default=0.3, help="share of machines whose log ends while healthy")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    modes = dict.fromkeys(MODES, 0)
    n_fail = 0
    with open(os.path.join(a.out, "sensors.csv"), "w") as s, open(os.path.join(a.out, "failures.csv"), "w") as f:
        s.write("machine_id,timestamp,setting_load,setting_speed,temp,pressure,vib,current\n")
        f.write("machine_id,failure_time\n")
        for i in range(a.machines):
            rows, fail, mode = machine(rng, i, a.censored)
            s.write("\n".join(rows) + "\n")
            if fail:
                f.write(f"{fail[0]},{fail[1]}\n")
                modes[mode] += 1
                n_fail += 1
    print(f"{a.out}: {a.machines} machines, {n_fail} failed ({', '.join(f'{k} {v}' for k, v in modes.items())})")


if __name__ == "__main__":
    main()
