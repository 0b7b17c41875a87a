#!/usr/bin/python3
"""tune_bo.py: `moe-factory tune propose` in a closed loop on standard test functions with known
optima (Branin, Hartmann-3, Hartmann-6, Rosenbrock, Ackley; with measurement noise) and on the
simulated moulding cell and reactor (`tune simulate --stationary`), beside a Gaussian-process
expected-improvement loop written here on scikit-learn and random search: the same starting batches,
the same budget, the same box and the same seeds for every method.

Each loop starts from d + 1 batches (a seeded Latin hypercube), then asks for one recipe per batch
for --budget batches. For propose the loop writes the log and the bounds file, runs the program and
measures what it printed; the processes are measured by `tune simulate --recipes`. The regret after
each batch is the optimum minus the noise-free value of the best recipe tried so far (for a
minimised function: its value minus the minimum).

Usage: tune_bo.py MOE_FACTORY OUT_DIR [--seeds N] [--budget B] [--problems a,b] [--methods a,b] [--jobs J]
(PROPOSE_ARGS="--xi 0" in the environment passes options to every propose call; --add a.json,b.json
summarises earlier runs' methods beside this run's, e.g. the slow reference run once.)
Writes OUT_DIR/results.json (every curve), OUT_DIR/summary.md (median final regret per problem and
method, the ratio to the reference), OUT_DIR/regret_<problem>.png and all of them in regret_all.png.
"""
import argparse
import concurrent.futures as cf
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

# ---- test functions (minimised), with bounds and known minima --------------------------------------


def branin(x):
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


HART3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
HART3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
HART6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                    [17, 8, 0.05, 10, 0.1, 14]])
HART6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                           [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
HART_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann(A, P):
    def f(x):
        x = np.asarray(x)
        return -float(np.sum(HART_ALPHA * np.exp(-np.sum(A * (x - P) ** 2, axis=1))))
    return f


def rosenbrock(x):
    return float(sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1)))


def ackley(x):
    x = np.asarray(x)
    d = len(x)
    return float(-20 * math.exp(-0.2 * math.sqrt(np.sum(x**2) / d)) - math.exp(np.sum(np.cos(2 * math.pi * x)) / d)
                 + 20 + math.e)


# name: (function, lower, upper, minimum, noise sd)
FUNCTIONS = {
    "branin": (branin, [-5, 0], [10, 15], 0.397887, 1.0),
    "hartmann3": (hartmann(HART3_A, HART3_P), [0] * 3, [1] * 3, -3.86278, 0.05),
    "hartmann6": (hartmann(HART6_A, HART6_P), [0] * 6, [1] * 6, -3.32237, 0.05),
    "rosenbrock": (rosenbrock, [-2] * 3, [2] * 3, 0.0, 1.0),
    "ackley": (ackley, [-5] * 4, [5] * 4, 0.0, 0.1),
}
PROCESSES = ("moulding", "reactor")
PROPOSE_ARGS = os.environ.get("PROPOSE_ARGS", "").split()  # extra options of tune propose, for variants


class Problem:
    """A minimised function or a maximised simulated process, measured with noise."""

    def __init__(self, name, fab, seed, workdir):
        self.name, self.fab, self.seed, self.workdir = name, fab, seed, workdir
        if name in FUNCTIONS:
            self.f, lo, hi, self.opt, self.noise = FUNCTIONS[name]
            self.lo, self.hi = np.array(lo, float), np.array(hi, float)
            self.names = [f"x{i}" for i in range(len(lo))]
            self.step = self.hi - self.lo  # no trust region
            self.maximize = False
            self.rng = np.random.default_rng(10_000 + seed)
        else:
            bounds = os.path.join(workdir, "process_bounds.csv")
            run([fab, "tune", "simulate", "--process", name, "--batches", "1", "--bounds", bounds])
            rows = list(csv.DictReader(open(bounds)))
            self.names = [r["name"] for r in rows]
            self.lo = np.array([float(r["min"]) for r in rows])
            self.hi = np.array([float(r["max"]) for r in rows])
            self.step = np.array([float(r["max_step"]) for r in rows])
            out = run([fab, "tune", "simulate", "--process", name, "--optimum"]).splitlines()
            self.opt = float(out[1].split(",")[-1])
            self.maximize = True
        self.d = len(self.names)

    def measure(self, X):
        """Measured and noise-free values of every recipe in X (rows in order)."""
        if self.name in FUNCTIONS:
            # the noise of row k depends only on the seed and k: every method meets the same noise
            rng = np.random.default_rng(10_000 + self.seed)
            eps = rng.normal(size=len(X)) * self.noise
            true = np.array([self.f(x) for x in X])
            return true + eps, true
        path = os.path.join(self.workdir, "recipes.csv")
        with open(path, "w") as f:
            f.write(",".join(self.names) + "\n")
            for x in X:
                f.write(",".join(repr(float(v)) for v in x) + "\n")
        out = run([self.fab, "--seed", str(self.seed), "tune", "simulate", "--process", self.name, "--stationary",
                   "--recipes", path, "--truth"])
        rows = list(csv.DictReader(out.splitlines()))
        return np.array([float(r["quality"]) for r in rows]), np.array([float(r["true_quality"]) for r in rows])

    def regret(self, true):
        best = np.maximum.accumulate(true) if self.maximize else np.minimum.accumulate(true)
        return (self.opt - best) if self.maximize else (best - self.opt)

    def box(self, current):
        return np.maximum(self.lo, current - self.step), np.minimum(self.hi, current + self.step)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[:500]}")
    return r.stdout


def initial_design(p, seed):
    """d + 1 points of a Latin hypercube over the bounds (the processes: within the trust region
    walked from the centre, so that each batch is reachable from the one before)."""
    rng = np.random.default_rng(seed)
    n = p.d + 1
    u = (np.argsort(rng.random((n, p.d)), axis=0) + rng.random((n, p.d))) / n
    X = p.lo + u * (p.hi - p.lo)
    if p.name in PROCESSES:  # a short walk from a random start: each step within max_step
        X = np.empty((n, p.d))
        X[0] = p.lo + (0.2 + 0.6 * rng.random(p.d)) * (p.hi - p.lo)
        for k in range(1, n):
            lo, hi = p.box(X[k - 1])
            X[k] = lo + rng.random(p.d) * (hi - lo)
    return X


# ---- methods ------------------------------------------------------------------------------------------


def propose_cli(p, X, y, seed, engine, workdir):
    hist = os.path.join(workdir, "history.csv")
    bounds = os.path.join(workdir, "bounds.csv")
    with open(bounds, "w") as f:
        f.write("name,min,max,max_step\n")
        for i, nm in enumerate(p.names):
            f.write(f"{nm},{p.lo[i]!r},{p.hi[i]!r},{p.step[i]!r}\n")
    with open(hist, "w") as f:
        f.write("timestamp," + ",".join(p.names) + ",objective\n")
        for k, (x, v) in enumerate(zip(X, y)):
            f.write(f"{k}," + ",".join(repr(float(t)) for t in x) + f",{v!r}\n")
    out = run([p.fab, "-q", "--db", os.path.join(workdir, "t.db"), "--seed", str(seed), "tune", "propose",
               "--history", hist, "--bounds", bounds, "--objective", "objective",
               "--maximize" if p.maximize else "--minimize", "--engine", engine] + PROPOSE_ARGS)
    return np.array([float(v) for v in out.splitlines()[1].split(",")])


def gp_ei_reference(p, X, y, seed):
    """scikit-learn GP (Matern 5/2 ARD, constant times kernel plus white noise, normalised y, 5
    restarts of the likelihood) and expected improvement over the best measured value, maximised
    over the same box by 2000 random points and L-BFGS-B from the best 5."""
    from scipy.optimize import minimize
    from scipy.stats import norm
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    import warnings

    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(seed)
    U = (X - p.lo) / (p.hi - p.lo)
    v = -y if p.maximize else y  # minimised
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(p.d), (1e-2, 1e2), nu=2.5) + \
        WhiteKernel(1e-2, (1e-6, 1.0))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=5, random_state=seed).fit(U, v)
    best = v.min()
    lo, hi = p.box(X[-1])
    ulo, uhi = (lo - p.lo) / (p.hi - p.lo), (hi - p.lo) / (p.hi - p.lo)

    def neg_ei(u):
        m, s = gp.predict(np.atleast_2d(u), return_std=True)
        s = np.maximum(s, 1e-12)
        z = (best - m - 0.01) / s
        return -float(((best - m - 0.01) * norm.cdf(z) + s * norm.pdf(z))[0])

    C = ulo + rng.random((2000, p.d)) * (uhi - ulo)
    m, s = gp.predict(C, return_std=True)
    s = np.maximum(s, 1e-12)
    z = (best - m - 0.01) / s
    ei = (best - m - 0.01) * norm.cdf(z) + s * norm.pdf(z)
    best_u, best_v = C[np.argmax(ei)], -ei.max()
    for j in np.argsort(-ei)[:5]:
        r = minimize(neg_ei, C[j], method="L-BFGS-B", bounds=list(zip(ulo, uhi)))
        if r.fun < best_v:
            best_u, best_v = r.x, r.fun
    return p.lo + np.clip(best_u, ulo, uhi) * (p.hi - p.lo)


def random_search(p, X, seed):
    rng = np.random.default_rng(seed)
    lo, hi = p.box(X[-1])
    return lo + rng.random(p.d) * (hi - lo)


def one_run(args):
    fab, name, method, seed, budget = args
    with tempfile.TemporaryDirectory() as wd:
        p = Problem(name, fab, seed, wd)
        X = initial_design(p, 1000 + seed)
        y, true = p.measure(X)
        for it in range(budget):
            s = 100 * seed + it
            if method in ("gp", "mlp"):
                x = propose_cli(p, X, y, s, method, wd)
            elif method == "sklearn":
                x = gp_ei_reference(p, X, y, s)
            else:
                x = random_search(p, X, s)
            X = np.vstack([X, x])
            y, true = p.measure(X)
        return {"problem": name, "method": method, "seed": seed, "n_init": p.d + 1,
                "regret": [float(r) for r in p.regret(true)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fab")
    ap.add_argument("out")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--problems", default=",".join(list(FUNCTIONS) + list(PROCESSES)))
    ap.add_argument("--methods", default="gp,mlp,sklearn,random")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--add", default="", help="results.json files of earlier runs (same seeds and budget) to"
                    " summarise beside this one's, for methods this run does not repeat")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    tasks = [(a.fab, pr, m, s, a.budget) for pr in a.problems.split(",") for m in a.methods.split(",")
             for s in range(a.seeds)]
    results = []
    with cf.ProcessPoolExecutor(a.jobs) as ex:
        for r in ex.map(one_run, tasks):
            results.append(r)
            print(f"{r['problem']:11s} {r['method']:8s} seed {r['seed']}: final regret {r['regret'][-1]:.4g}",
                  file=sys.stderr, flush=True)
    json.dump(results, open(os.path.join(a.out, "results.json"), "w"))
    done = {(r["problem"], r["method"]) for r in results}
    for path in filter(None, a.add.split(",")):
        results += [r for r in json.load(open(path)) if (r["problem"], r["method"]) not in done
                    and r["problem"] in a.problems.split(",") and r["seed"] < a.seeds]
    summarise(results, a)


def summarise(results, a):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(r["problem"] for r in results))
    methods = list(dict.fromkeys(r["method"] for r in results))
    cols = 4
    grid, axes = plt.subplots((len(problems) + cols - 1) // cols, cols, figsize=(13, 3.2 * ((len(problems) + 3) // 4)),
                              squeeze=False)
    for ax in axes.flat[len(problems):]:
        ax.axis("off")
    lines = [f"Median final regret over {a.seeds} seeds, {a.budget} batches after d + 1 starting batches "
             "(interquartile range in brackets); ratio = propose (gp) / scikit-learn GP-EI.", "",
             "| problem | " + " | ".join(methods) + " | ratio |", "|---|" + "---|" * (len(methods) + 1)]
    for pi, pr in enumerate(problems):
        cells, med = [], {}
        fig, ax = plt.subplots(figsize=(5, 3.4))
        gax = axes.flat[pi]
        for m in methods:
            R = np.array([r["regret"] for r in results if r["problem"] == pr and r["method"] == m])
            if not len(R):
                cells.append("")
                continue
            fin = R[:, -1]
            med[m] = float(np.median(fin))
            q1, q3 = np.percentile(fin, [25, 75])
            cells.append(f"{med[m]:.3g} [{q1:.3g}, {q3:.3g}]")
            curve = np.median(R, axis=0)
            ax.plot(np.arange(1, len(curve) + 1), np.maximum(curve, 1e-6), label=m)
            gax.plot(np.arange(1, len(curve) + 1), np.maximum(curve, 1e-6), label=m)
        ratio = med["gp"] / med["sklearn"] if "gp" in med and med.get("sklearn", 0) > 0 else float("nan")
        lines.append(f"| {pr} | " + " | ".join(cells) + f" | {ratio:.2f} |")
        ax.set_yscale("log")
        ax.set_xlabel("batches")
        ax.set_ylabel("regret (median over seeds)")
        ax.set_title(pr)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, f"regret_{pr}.png"), dpi=80)
        plt.close(fig)
        gax.set_yscale("log")
        gax.set_title(pr, fontsize=10)
        gax.set_xlabel("batches", fontsize=8)
        if pi % cols == 0:
            gax.set_ylabel("median regret", fontsize=8)
        if pi == 0:
            gax.legend(fontsize=7)
    grid.tight_layout()
    grid.savefig(os.path.join(a.out, "regret_all.png"), dpi=72)
    plt.close(grid)
    text = "\n".join(lines) + "\n"
    open(os.path.join(a.out, "summary.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
