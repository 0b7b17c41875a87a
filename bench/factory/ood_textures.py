#!/usr/bin/python3
"""ood_textures.py: grey textured-surface images with and without defects, made independently of
moe-factory's own generator (surface_synth.c), so that inspection models developed on that generator
can be scored on surfaces built differently: other materials (ripple, sandblast, mesh, leather,
perforated, fibre) and other defect models (scratch, crack, spot, contamination, texture distortion,
missing element).

Each family's look (period, orientation, contrast, brightness, noise level) is drawn once from the
seed; its images vary around it (phase, small rotation, lighting gradient, sensor noise). Defect
contrast is relative to the good texture: amplitude = factor x the image's pixel standard deviation
(for a texture distortion the factor sets the displacement instead, relative to the pattern's
period, and the local mean intensity does not change).
Image i of a family depends only on (seed, family, split, class, i), not on how many were asked for.

Written: OUT_DIR/<family>/{train,test}/{good,defect,masks}/NNNN.png (8-bit grey, size x size; a mask
has the defect image's name, 255 where the defect changed the image noticeably: for a warp, where
the displacement exceeds 0.5 px) and OUT_DIR/<family>/info.json: the family's parameters and, per
defect image, its kind, scale (size as a fraction of the side: the diameter of a spot, patch or warp,
half the length of a scratch or crack), contrast factor (none for a missing element), centre, mask
area and mean change inside the mask in units of the image's standard deviation.

Usage: ood_textures.py OUT_DIR [--families ripple,sandblast,mesh,leather,perforated,fibre] [--seed S]
       [--size 256] [--train-good 120] [--train-defect 30] [--test-good 80] [--test-defect 30]
       [--jobs N]
"""
import argparse
import json
import math
import os
import sys
import time
import zlib
from multiprocessing import Pool

import numpy as np
from PIL import Image
from scipy import ndimage

FAMILIES = ("ripple", "sandblast", "mesh", "leather", "perforated", "fibre")
SPLIT_CODE = {"train": 1, "test": 2}
CLASS_CODE = {"good": 1, "defect": 2}
TAU = 2 * math.pi


# ---------------------------------------------------------------- seeding and small helpers

def family_code(name):
    """A stable number for a family name."""
    return zlib.crc32(name.encode())


def family_rng(seed, name):
    """The generator that draws a family's look."""
    return np.random.default_rng(np.random.SeedSequence([seed, family_code(name), 0]))


def image_rngs(seed, name, split, cls, i):
    """Two generators for one image: its surface and its defect."""
    ss = np.random.SeedSequence([seed, family_code(name), SPLIT_CODE[split], CLASS_CODE[cls], i])
    a, b = ss.spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)


def freq_grid(n):
    """Frequencies (cycles per pixel) of an n x n real FFT: fy, fx broadcastable."""
    return np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :]


def shaped_noise(rng, n, transfer):
    """Periodic white noise shaped in the Fourier domain by transfer(fy, fx); unit standard deviation."""
    fy, fx = freq_grid(n)
    out = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((n, n))) * transfer(fy, fx), s=(n, n))
    return out / (out.std() + 1e-12)


def gauss_tf(sigma):
    """Fourier transfer function of a Gaussian blur of sigma pixels."""
    return lambda fy, fx: np.exp(-2 * math.pi ** 2 * sigma ** 2 * (fx * fx + fy * fy))


def oriented_gauss_tf(angle, s_along, s_across):
    """Fourier transfer function of a Gaussian blur of s_along pixels along angle, s_across across."""
    c, s = math.cos(angle), math.sin(angle)
    return lambda fy, fx: np.exp(-2 * math.pi ** 2 * ((s_along * (c * fx + s * fy)) ** 2
                                                      + (s_across * (-s * fx + c * fy)) ** 2))


def smooth_noise(rng, n, sigma):
    """Smooth random field with feature size sigma pixels, unit standard deviation."""
    return shaped_noise(rng, n, gauss_tf(sigma))


def band_noise(rng, n, s1, s2):
    """Band-pass random field: difference of Gaussians with sigmas s1 < s2, unit standard deviation."""
    g1, g2 = gauss_tf(s1), gauss_tf(s2)
    return shaped_noise(rng, n, lambda fy, fx: g1(fy, fx) - g2(fy, fx))


def grid(n):
    """Pixel coordinates x, y of an n x n image."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    return x, y


def rotated(n, angle, ox=0.0, oy=0.0):
    """Coordinates u (along angle) and v (across it) about the image centre, shifted by ox, oy."""
    x, y = grid(n)
    c, s = math.cos(angle), math.sin(angle)
    xc, yc = x - n / 2, y - n / 2
    return c * xc + s * yc + ox, -s * xc + c * yc + oy


def draw_points(n, xs, ys, w):
    """Accumulate weights w at sub-pixel points (xs, ys) with bilinear splatting."""
    acc = np.zeros(n * n)
    x0, y0 = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    fx, fy = xs - x0, ys - y0
    for dx, dy, k in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < n) & (yi >= 0) & (yi < n)
        acc += np.bincount(yi[ok] * n + xi[ok], (w * k)[ok], n * n)
    return acc.reshape(n, n)


def line_profile(n, paths, sigma, step):
    """A blurred drawing of polylines given as (xs, ys, weights) sampled every step pixels: a Gaussian
    cross profile of standard deviation sigma whose height follows the weights, scaled to a highest
    value of 1 (overlaps do not add up beyond that)."""
    acc = np.zeros((n, n))
    for xs, ys, w in paths:
        acc += draw_points(n, xs, ys, w * step)
    prof = np.minimum(ndimage.gaussian_filter(acc, sigma) * math.sqrt(TAU) * sigma, 1.0)
    return prof / max(prof.max(), 1e-9)


def blob_region(rng, n, cx, cy, radius, ragged=0.35):
    """A boolean irregular blob of about the given radius around (cx, cy): an ellipse whose edge is
    pushed in and out by a smooth random field."""
    x, y = grid(n)
    rot, aspect = rng.uniform(0, math.pi), rng.uniform(0.55, 1.0)
    c, s = math.cos(rot), math.sin(rot)
    u, v = c * (x - cx) + s * (y - cy), (-s * (x - cx) + c * (y - cy)) / aspect
    field = 1 - (u * u + v * v) / radius ** 2 + ragged * smooth_noise(rng, n, max(1.5, radius / 3))
    region = field > 0
    if not region[int(cy), int(cx)]:  # keep the centre inside so the blob is never empty
        region |= (u * u + v * v) <= (0.5 * radius) ** 2
    return region


# ---------------------------------------------------------------- the families
# Each family has params_<f>(rng) -> dict (its look, drawn once), state_<f>(P, rng, n) -> dict (the
# draws of one image) and render_<f>(P, S, n, **change) -> float texture of arbitrary scale.
# Common look parameters are added by family_params.

def params_ripple(rng):
    """Fine sinusoidal ripples: 2-3 nearly parallel waves whose phase wanders slowly."""
    k = int(rng.integers(2, 4))
    return dict(angle=rng.uniform(0, math.pi), period=rng.uniform(5, 12),
                ratios=[1.0] + list(rng.uniform(0.8, 1.25, k - 1)),
                tilts=[0.0] + list(rng.uniform(-0.35, 0.35, k - 1)),
                weights=[1.0] + list(rng.uniform(0.3, 0.8, k - 1)),
                wander=rng.uniform(1.0, 4.0), wander_scale=rng.uniform(15, 50), grain=rng.uniform(0.05, 0.25))


def state_ripple(P, rng, n):
    """Per image: rotation jitter, wave phases, phase-wander fields, fine grain."""
    k = len(P["ratios"])
    return dict(angle=P["angle"] + rng.normal(0, 0.03), phases=rng.uniform(0, TAU, k),
                offset=rng.uniform(0, 1000, 2),
                wander=[smooth_noise(rng, n, P["wander_scale"]) for _ in range(k)],
                fine=smooth_noise(rng, n, 0.7))


def render_ripple(P, S, n):
    """Sum of phase-modulated sinusoids plus fine grain."""
    u, v = rotated(n, S["angle"], *S["offset"])
    t = np.zeros((n, n))
    for r, tilt, w, ph, wf in zip(P["ratios"], P["tilts"], P["weights"], S["phases"], S["wander"]):
        d = u * math.cos(tilt) + v * math.sin(tilt)
        t += w * np.sin(TAU * r * d / P["period"] + ph + P["wander"] * wf)
    return t + P["grain"] * 1.5 * S["fine"]


def params_sandblast(rng):
    """Isotropic fine grain: band-pass noise, slight mottling, sparse tiny pits."""
    return dict(s1=rng.uniform(0.6, 1.3), ratio=rng.uniform(1.8, 3.0), aniso=rng.uniform(1.0, 1.3),
                angle=rng.uniform(0, math.pi), pits=rng.uniform(3e-4, 1.5e-3), pit_r=rng.uniform(0.6, 1.1),
                pit_depth=rng.uniform(1.5, 3.0), mottle=rng.uniform(0.05, 0.25), mottle_scale=rng.uniform(20, 60))


def state_sandblast(P, rng, n):
    """Per image: grain field, mottle field, pit positions and depths."""
    c, s, a = math.cos(P["angle"]), math.sin(P["angle"]), P["aniso"]
    g1, g2 = P["s1"], P["s1"] * P["ratio"]

    def tf(fy, fx):
        fa, fb = c * fx + s * fy, -s * fx + c * fy
        r2 = (fa * a) ** 2 + (fb / a) ** 2
        return np.exp(-2 * math.pi ** 2 * g1 ** 2 * r2) - np.exp(-2 * math.pi ** 2 * g2 ** 2 * r2)
    count = rng.poisson(P["pits"] * n * n)
    return dict(grain=shaped_noise(rng, n, tf), mottle=smooth_noise(rng, n, P["mottle_scale"]),
                px=rng.uniform(0, n, count), py=rng.uniform(0, n, count),
                depth=P["pit_depth"] * rng.uniform(0.5, 1.0, count))


def render_sandblast(P, S, n):
    """Grain plus mottling minus Gaussian pits."""
    r = P["pit_r"]
    pits = ndimage.gaussian_filter(draw_points(n, S["px"], S["py"], S["depth"]), r) * TAU * r * r
    return S["grain"] + P["mottle"] * S["mottle"] - pits


def params_mesh(rng):
    """Woven wire mesh: round wires over and under in two perpendicular directions."""
    return dict(angle=rng.uniform(0, math.pi / 2), pitch=rng.uniform(7, 14), rfrac=rng.uniform(0.3, 0.42),
                gap=rng.uniform(-1.2, -0.6), spec=rng.uniform(0.2, 0.6), wire_var=rng.uniform(0.03, 0.12),
                dip=rng.uniform(0.3, 0.6))


def state_mesh(P, rng, n):
    """Per image: rotation jitter, offset, per-wire brightness, a faint dirt field."""
    m = int(2 * n / P["pitch"]) + 8
    return dict(angle=P["angle"] + rng.normal(0, 0.01), offset=rng.uniform(0, P["pitch"], 2),
                bu=1 + P["wire_var"] * rng.standard_normal(m), bv=1 + P["wire_var"] * rng.standard_normal(m),
                dirt=smooth_noise(rng, n, 12))


def render_mesh(P, S, n, cut=None):
    """Cylinder-shaded wires composited by height at each crossing; cut=(axis, index, lo, hi) removes
    wire `index` of the wires along `axis` ('u' or 'v') between positions lo and hi along it."""
    p, r = P["pitch"], P["rfrac"] * P["pitch"]
    u, v = rotated(n, S["angle"], *S["offset"])
    i, j = np.floor(u / p), np.floor(v / p)
    du, dv = u - (i + 0.5) * p, v - (j + 0.5) * p
    zu = np.sin(math.pi * u / p + math.pi * j)        # wires along u, index j
    zv = np.sin(math.pi * v / p + math.pi * (i + 1))  # wires along v, index i
    au = np.clip(r - np.abs(dv) + 0.5, 0, 1)
    av = np.clip(r - np.abs(du) + 0.5, 0, 1)
    if cut is not None:
        axis, k, lo, hi = cut
        if axis == "u":
            au = np.where((j == k) & (u >= lo) & (u <= hi), 0.0, au)
        else:
            av = np.where((i == k) & (v >= lo) & (v <= hi), 0.0, av)

    def lum(d, z, bright):
        nz = np.sqrt(np.clip(1 - (d / r) ** 2, 0, 1))
        shade = 1 - P["dip"] * (1 - z) / 2
        return bright * shade * (0.35 + 0.65 * nz) + P["spec"] * np.exp(-(d / (0.25 * r)) ** 2) * (z > 0)
    lu = lum(dv, zu, S["bu"][j.astype(int) % len(S["bu"])])
    lv = lum(du, zv, S["bv"][i.astype(int) % len(S["bv"])])
    top_u = zu >= zv
    a_low, l_low = np.where(top_u, av, au), np.where(top_u, lv, lu)
    a_top, l_top = np.where(top_u, au, av), np.where(top_u, lu, lv)
    val = np.full((n, n), P["gap"]) + 0.05 * S["dirt"]
    val = val * (1 - a_low) + l_low * a_low
    return val * (1 - a_top) + l_top * a_top


def params_leather(rng):
    """Grain leather: irregular cells (Worley distances) separated by soft creases."""
    return dict(cell=rng.uniform(9, 20), stretch=rng.uniform(1.0, 1.4), angle=rng.uniform(0, math.pi),
                crease_w=rng.uniform(0.8, 2.0), crease=rng.uniform(0.6, 1.2), dome=rng.uniform(0.2, 0.5),
                tone=rng.uniform(0.05, 0.15), grain=rng.uniform(0.05, 0.15))


def state_leather(P, rng, n):
    """Per image: jittered cell seeds in the stretched frame, cell tones, crease-depth and pore fields."""
    s, a = P["cell"], P["angle"] + rng.normal(0, 0.05)
    # the stretched frame q = A x; seeds on a jittered grid covering the image's corners there
    c, sn, k = math.cos(a), math.sin(a), P["stretch"]
    A = np.array([[c * k, sn * k], [-sn / k, c / k]])
    corners = A @ np.array([[0, n, 0, n], [0, 0, n, n]], dtype=float)
    lo, hi = corners.min(1) - 3 * s, corners.max(1) + 3 * s
    shape = (int((hi[1] - lo[1]) / s) + 1, int((hi[0] - lo[0]) / s) + 1)
    gy, gx = np.mgrid[0:shape[0], 0:shape[1]]
    pts = lo + (np.stack([gx, gy], -1) + 0.5 + rng.uniform(-0.45, 0.45, shape + (2,))) * s
    return dict(A=A, lo=lo, pts=pts, tones=rng.standard_normal(shape), depth=smooth_noise(rng, n, 2 * s),
                fine=smooth_noise(rng, n, 1.0))


def render_leather(P, S, n):
    """Per-cell tone and dome minus creases where the two nearest seeds are nearly equidistant."""
    x, y = grid(n)
    q = np.tensordot(S["A"], np.stack([x, y]), 1)
    s, pts = P["cell"], S["pts"]
    w = pts.shape[1]
    cell = (np.floor((q[1] - S["lo"][1]) / s) * w + np.floor((q[0] - S["lo"][0]) / s)).astype(np.int64)
    px, py = pts[..., 0].ravel(), pts[..., 1].ravel()
    best1, best2 = np.full((n, n), np.inf), np.full((n, n), np.inf)
    near = np.zeros((n, n), np.int64)
    for dj in range(-2, 3):  # the two nearest seeds lie in the 5 x 5 cells around a pixel's own
        for di in range(-2, 3):
            k = cell + (dj * w + di)
            d = (q[0] - px.take(k)) ** 2 + (q[1] - py.take(k)) ** 2
            closer = d < best1
            best2 = np.where(closer, best1, np.minimum(best2, d))
            near = np.where(closer, k, near)
            best1 = np.where(closer, d, best1)
    d1, d2 = np.sqrt(best1), np.sqrt(best2)
    tone = S["tones"].ravel().take(near)
    crease = np.exp(-((d2 - d1) / P["crease_w"]) ** 2) * (0.6 + 0.4 * np.tanh(S["depth"]))
    crease = ndimage.gaussian_filter(crease, 0.7)
    dome = np.clip(1 - d1 / P["cell"], 0, 1)
    return P["tone"] * tone + P["dome"] * dome - P["crease"] * crease + P["grain"] * S["fine"]


def params_perforated(rng):
    """Perforated plate: round holes on a square or hexagonal grid, slightly blurred."""
    return dict(lattice=str(rng.choice(["square", "hex"])), pitch=rng.uniform(10, 20),
                rfrac=rng.uniform(0.22, 0.36), angle=rng.uniform(0, math.pi / 2), blur=rng.uniform(0.5, 1.0),
                hole=rng.uniform(0.8, 1.5), wall=rng.uniform(0.2, 0.6), light_dir=rng.uniform(0, TAU),
                brushed=rng.uniform(0.03, 0.1))


def lattice_basis(P):
    """The two lattice vectors (columns) of the hole grid."""
    p = P["pitch"]
    if P["lattice"] == "square":
        return np.array([[p, 0.0], [0.0, p]])
    return np.array([[p, p / 2], [0.0, p * math.sqrt(3) / 2]])


def nearest_hole(P, S, n):
    """For each pixel: the lattice indices (m, k) of the nearest hole and the offset to its centre."""
    u, v = rotated(n, S["angle"], *S["offset"])
    B = lattice_basis(P)
    Bi = np.linalg.inv(B)
    fm, fk = Bi[0, 0] * u + Bi[0, 1] * v, Bi[1, 0] * u + Bi[1, 1] * v
    best = None
    for dm in (0, 1):
        for dk in (0, 1):
            m, k = np.floor(fm) + dm, np.floor(fk) + dk
            ox, oy = u - (B[0, 0] * m + B[0, 1] * k), v - (B[1, 0] * m + B[1, 1] * k)
            d2 = ox * ox + oy * oy
            if best is None:
                best = [d2, m, k, ox, oy]
            else:
                sel = d2 < best[0]
                for t, val in enumerate((d2, m, k, ox, oy)):
                    best[t] = np.where(sel, val, best[t])
    return best[1].astype(np.int64), best[2].astype(np.int64), best[3], best[4]


def state_perforated(P, rng, n):
    """Per image: rotation jitter, grid offset, brushed plate field."""
    a = P["angle"] + rng.normal(0, 0.01)
    brushed = shaped_noise(rng, n, oriented_gauss_tf(a, 12, 0.8))
    return dict(angle=a, offset=rng.uniform(0, 1000, 2), brushed=brushed, shade=smooth_noise(rng, n, 40))


def render_perforated(P, S, n, skip=()):
    """Plate with dark holes whose far wall catches the light; holes (m, k) in skip left unpunched."""
    m, k, ox, oy = nearest_hole(P, S, n)
    r = P["rfrac"] * P["pitch"]
    inside = np.clip(r - np.sqrt(ox * ox + oy * oy) + 0.5, 0, 1)
    for sm, sk in skip:
        inside = np.where((m == sm) & (k == sk), 0.0, inside)
    # light direction in the image frame, rotated into the plate frame
    la = P["light_dir"] - S["angle"]
    wall = np.clip((ox * math.cos(la) + oy * math.sin(la)) / r, 0, 1) ** 2
    plate = 1 + P["brushed"] * S["brushed"] + 0.05 * S["shade"]
    hole = -P["hole"] + P["wall"] * wall
    return ndimage.gaussian_filter(plate * (1 - inside) + hole * inside, P["blur"])


def params_fibre(rng):
    """Non-woven fibre / paper: many short dark and bright strokes on a cloudy formation."""
    return dict(density=rng.uniform(15, 40), length=rng.uniform(6, 20), width=rng.uniform(0.5, 1.0),
                kappa=rng.uniform(0, 1.5), angle=rng.uniform(0, math.pi), bright=rng.uniform(0.3, 0.7),
                formation=rng.uniform(0.2, 0.5), form_scale=rng.uniform(8, 25), curl=rng.uniform(0, 0.08))


def state_fibre(P, rng, n):
    """Per image: strokes (centre, angle, length, curl, polarity) and the formation field."""
    pad = P["length"] * 2
    area = (n + 2 * pad) ** 2
    count = rng.poisson(P["density"] * area / 1000)
    ang = P["angle"] + rng.vonmises(0, P["kappa"], count) / 2 if P["kappa"] > 0 else rng.uniform(0, math.pi, count)
    return dict(cx=rng.uniform(-pad, n + pad, count), cy=rng.uniform(-pad, n + pad, count),
                ang=ang + rng.normal(0, 0.02), len=P["length"] * rng.lognormal(0, 0.35, count),
                curl=rng.normal(0, P["curl"], count),
                sign=np.where(rng.uniform(size=count) < P["bright"], 1.0, -1.0) * rng.uniform(0.5, 1.0, count),
                form=smooth_noise(rng, n, P["form_scale"]))


def render_fibre(P, S, n):
    """Strokes sampled every half pixel, splatted and blurred to the fibre width, on the formation."""
    step = 0.5
    ns = np.maximum(2, (S["len"] / step).astype(np.int64))
    owner = np.repeat(np.arange(len(ns)), ns)
    start = np.cumsum(ns) - ns
    t = (np.arange(owner.size) - start[owner]) * step - S["len"][owner] / 2
    heading = S["ang"][owner] + S["curl"][owner] * t
    xs = S["cx"][owner] + t * np.cos(heading)
    ys = S["cy"][owner] + t * np.sin(heading)
    w = S["sign"][owner] * step
    strokes = ndimage.gaussian_filter(draw_points(n, xs, ys, w), P["width"]) * math.sqrt(TAU) * P["width"]
    return strokes + P["formation"] * S["form"]


FAMILY = {
    "ripple": (params_ripple, state_ripple, render_ripple),
    "sandblast": (params_sandblast, state_sandblast, render_sandblast),
    "mesh": (params_mesh, state_mesh, render_mesh),
    "leather": (params_leather, state_leather, render_leather),
    "perforated": (params_perforated, state_perforated, render_perforated),
    "fibre": (params_fibre, state_fibre, render_fibre),
}

DEFECT_KINDS = {
    "ripple": ("scratch", "crack", "spot", "contamination", "distortion"),
    "sandblast": ("scratch", "crack", "spot", "contamination", "distortion"),
    "mesh": ("scratch", "spot", "contamination", "distortion", "missing"),
    "leather": ("scratch", "crack", "spot", "contamination", "distortion"),
    "perforated": ("scratch", "crack", "spot", "contamination", "distortion", "missing"),
    "fibre": ("scratch", "spot", "contamination", "distortion"),  # paper and fleece tear, they do not crack
}


def feature_length(name, P):
    """The family's characteristic length in pixels (period, cell, pitch, fibre length)."""
    return {"ripple": lambda: P["period"], "sandblast": lambda: 2 * P["s1"] * P["ratio"],
            "mesh": lambda: P["pitch"], "leather": lambda: P["cell"], "perforated": lambda: P["pitch"],
            "fibre": lambda: P["length"] / 2}[name]()


def family_params(seed, name):
    """The family's look: its own parameters plus brightness, contrast, lighting and noise level."""
    rng = family_rng(seed, name)
    P = FAMILY[name][0](rng)
    P.update(mean=rng.uniform(0.35, 0.65), contrast=rng.uniform(0.05, 0.12), lighting=rng.uniform(0.01, 0.05),
             noise=rng.uniform(0.005, 0.02))
    P["feature_px"] = feature_length(name, P)
    return P


# ---------------------------------------------------------------- one surface and its defect

def make_surface(name, P, rng, n):
    """A good surface: its texture part (brightness + contrast x normalised texture), the lighting
    gradient, the sensor noise, and the family state with the normalisation, for re-rendering."""
    render = FAMILY[name][2]
    S = FAMILY[name][1](P, rng, n)
    T = render(P, S, n)
    mu, sd = float(T.mean()), float(T.std()) + 1e-12
    mean = P["mean"] + rng.normal(0, 0.015)
    contrast = P["contrast"] * rng.uniform(0.9, 1.1)
    beta, amp = rng.uniform(0, TAU), P["lighting"] * rng.uniform(-1, 1)
    x, y = grid(n)
    light = amp * ((x - n / 2) * math.cos(beta) + (y - n / 2) * math.sin(beta)) / n
    noise = P["noise"] * rng.uniform(0.85, 1.15) * rng.standard_normal((n, n))
    return dict(S=S, tex=mean + contrast * (T - mu) / sd, light=light, noise=noise,
                to_tex=lambda T2: mean + contrast * (T2 - mu) / sd)


def defect_scratch(name, P, surf, rng, n, cx, cy, amp, factor, scale):
    """A thin straight, bent or arced line, bright or dark, fading at its ends."""
    step, length = 0.25, max(6.0, 2 * scale * n)
    arc = rng.uniform() < 0.4
    t = (np.arange(int(length / step)) + 0.5) * step
    turn = rng.uniform(-1, 1) * (2.5 if arc else 0.15)
    heading = rng.uniform(0, TAU) + turn * (t - length / 2) / length
    xs, ys = np.cumsum(np.cos(heading)) * step, np.cumsum(np.sin(heading)) * step
    mid = len(t) // 2
    xs, ys = xs - xs[mid] + cx, ys - ys[mid] + cy
    taper = np.sin(math.pi * t / length) ** 0.4
    width = rng.uniform(0.6, 1.4)
    prof = line_profile(n, [(xs, ys, taper)], width, step)
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    return surf["tex"] + sign * amp * prof, prof > 0.25, dict(shape="arc" if arc else "line", width=width,
                                                                  polarity="bright" if sign > 0 else "dark")


def random_walk(rng, x, y, heading, length, step):
    """A persistent random walk with rare kinks: positions and headings every step pixels."""
    k = max(2, int(length / step))
    turns = rng.normal(0, 0.06, k) + np.where(rng.uniform(size=k) < 0.004, rng.normal(0, 0.7, k), 0)
    h = heading + np.cumsum(turns)
    return x + np.cumsum(np.cos(h)) * step, y + np.cumsum(np.sin(h)) * step, h


def defect_crack(name, P, surf, rng, n, cx, cy, amp, factor, scale):
    """A dark branching crack: two random walks away from the centre plus a few side branches."""
    step, length = 0.25, max(8.0, 2 * scale * n)
    h0 = rng.uniform(0, TAU)
    paths = []
    for h in (h0, h0 + math.pi):
        xs, ys, hs = random_walk(rng, cx, cy, h, length / 2, step)
        w = 0.5 + 0.5 * (1 - np.arange(len(xs)) / len(xs))
        paths.append((xs, ys, w))
        for _ in range(rng.poisson(0.8)):
            j = int(rng.integers(0, len(xs)))
            side = rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.1)
            bl = rng.uniform(0.15, 0.45) * length
            bx, by, _ = random_walk(rng, xs[j], ys[j], hs[j] + side, bl, step)
            paths.append((bx, by, w[j] * (1 - 0.6 * np.arange(len(bx)) / len(bx))))
    width = rng.uniform(0.5, 0.9)
    prof = line_profile(n, paths, width, step)
    return surf["tex"] - amp * prof, prof > 0.25, dict(width=width, branches=len(paths) - 2)


def defect_spot(name, P, surf, rng, n, cx, cy, amp, factor, scale):
    """A soft irregular blob, darker or brighter."""
    radius = max(2.0, scale * n / 2)
    region = blob_region(rng, n, cx, cy, radius)
    prof = ndimage.gaussian_filter(region.astype(float), max(0.7, rng.uniform(0.15, 0.4) * radius))
    prof /= prof.max()
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    return surf["tex"] + sign * amp * prof, prof > 0.3, dict(polarity="bright" if sign > 0 else "dark")


def defect_contamination(name, P, surf, rng, n, cx, cy, amp, factor, scale):
    """A patch where the texture is flattened towards its local mean or replaced by a foreign one."""
    tex, L = surf["tex"], P["feature_px"]
    radius = max(3.0, scale * n / 2)
    w = ndimage.gaussian_filter(blob_region(rng, n, cx, cy, radius, ragged=0.5).astype(float),
                                rng.uniform(0.7, 2.0))
    local = ndimage.gaussian_filter(tex, max(2.0, L))
    variant = str(rng.choice(["flat", "grain", "streaks"]))
    if variant == "flat":
        offset = rng.choice([-1.0, 1.0]) * 0.2 * amp
        content = local + offset + (1 - min(1.0, factor)) * (tex - local)
    elif variant == "grain":
        coarse = min(radius / 3, L * rng.uniform(2, 3))
        fs = max(0.5, coarse if rng.uniform() < 0.5 else L * rng.uniform(0.1, 0.3))
        content = local + amp * band_noise(rng, n, fs, 2.2 * fs)
    else:
        streaks = oriented_gauss_tf(rng.uniform(0, math.pi), max(4.0, 1.5 * L), 0.7)
        content = local + amp * shaped_noise(rng, n, streaks)
    return tex * (1 - w) + content * w, w > 0.5, dict(variant=variant)


def defect_distortion(name, P, surf, rng, n, cx, cy, amp, factor, scale):
    """A local warp of the pattern (swirl, bulge/pinch or shifted patch): the texture is resampled at
    displaced positions, so its local mean is unchanged. The mask is where displacement > 0.5 px."""
    L = P["feature_px"]
    rho = max(3.0, scale * n / 2)
    x, y = grid(n)
    dx, dy = x - cx, y - cy
    g = np.exp(-(dx * dx + dy * dy) / (2 * rho * rho))
    # random textures hide swirls and shifts (they stay the same kind of random); a bulge changes their scale
    mode = "bulge" if name in ("sandblast", "fibre") else str(rng.choice(["swirl", "bulge", "shift"]))
    reach = rho * math.exp(-0.5)  # where a Gaussian-weighted linear displacement peaks
    shift = max(2.0, 0.8 * factor * L)
    if mode == "swirl":
        theta = rng.choice([-1.0, 1.0]) * min(0.9, shift / reach) * g
        sx = cx + np.cos(theta) * dx - np.sin(theta) * dy
        sy = cy + np.sin(theta) * dx + np.cos(theta) * dy
    elif mode == "bulge":
        k = rng.choice([-1.0, 1.0]) * min(0.75, 0.25 + 0.35 * factor)
        sx, sy = x + k * dx * g, y + k * dy * g
    else:
        m = min(0.6 * rho, shift)
        a = rng.uniform(0, TAU)
        sx, sy = x + m * math.cos(a) * g, y + m * math.sin(a) * g
    tex = ndimage.map_coordinates(surf["tex"], [sy, sx], order=3, mode="reflect")
    moved = np.hypot(sx - x, sy - y)
    return tex, ndimage.binary_fill_holes(moved > 0.5), dict(mode=mode, max_shift_px=float(moved.max()))


def defect_missing(name, P, surf, rng, n, cx, cy, amp, factor, scale):
    """A missing element: unpunched holes in a perforated plate, a broken wire in a mesh."""
    S, render = surf["S"], FAMILY[name][2]
    u, v = rotated(n, S["angle"], *S["offset"])
    iy, ix = int(cy), int(cx)
    if name == "perforated":
        m, k, _, _ = nearest_hole(P, S, n)
        count = 1 + int(scale > 0.07) + int(scale > 0.11)
        skip = [(int(m[iy, ix]) + j, int(k[iy, ix])) for j in range(count)]
        T2, extra = render(P, S, n, skip=skip), dict(holes=count)
    else:
        p = P["pitch"]
        length = max(1.5 * p, 2 * scale * n)
        if rng.uniform() < 0.5:
            cut = ("u", math.floor(v[iy, ix] / p), u[iy, ix] - length / 2, u[iy, ix] + length / 2)
        else:
            cut = ("v", math.floor(u[iy, ix] / p), v[iy, ix] - length / 2, v[iy, ix] + length / 2)
        T2, extra = render(P, S, n, cut=cut), dict(length_px=length)
    tex = surf["to_tex"](T2)
    diff = np.abs(tex - surf["tex"])
    mask = ndimage.binary_fill_holes(diff > 0.2 * diff.max()) if diff.max() > 0 else diff > 0
    return tex, mask, extra


DEFECTS = {"scratch": defect_scratch, "crack": defect_crack, "spot": defect_spot,
           "contamination": defect_contamination, "distortion": defect_distortion, "missing": defect_missing}


# contrast factor ranges: thin lines need more contrast than areas to be seen at all
FACTOR_RANGE = {"scratch": (0.8, 2.5), "crack": (0.8, 2.5), "spot": (0.4, 1.5), "contamination": (0.4, 1.5),
                "distortion": (0.4, 1.5), "missing": (1.0, 1.0)}


def add_defect(name, P, surf, rng, n):
    """Draws a defect kind, its size, contrast factor and place, and applies it to the texture part.
    Returns the new texture part, the boolean mask and the description. Draws again in the rare case
    that the defect changed (almost) no pixel, e.g. a missing element outside the image."""
    sd = float((surf["tex"] + surf["light"] + surf["noise"]).std())
    for _ in range(20):
        kind = str(rng.choice(DEFECT_KINDS[name]))
        factor, scale = rng.uniform(*FACTOR_RANGE[kind]), rng.uniform(0.03, 0.15)
        cx, cy = rng.uniform(0.15, 0.85, 2) * n
        tex, mask, extra = DEFECTS[kind](name, P, surf, rng, n, cx, cy, factor * sd, factor, scale)
        if mask.sum() >= 4:
            break
    change = np.abs(tex - surf["tex"])[mask]
    info = dict(kind=kind, scale=round(scale, 4), factor=None if kind == "missing" else round(factor, 4),
                x=round(float(cx), 1), y=round(float(cy), 1), mask_px=int(mask.sum()),
                mean_change_sd=round(float(change.mean() / sd), 4))
    info.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in extra.items()})
    return tex, mask, info


# ---------------------------------------------------------------- writing

def to_png(path, img):
    """Writes a [0, 1] float image as an 8-bit grey PNG."""
    Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8), mode="L").save(path)


def make_image(task):
    """Generates and writes one image (and its mask); returns the defect description or None."""
    out, name, P, seed, split, cls, i, n = task
    rs, rd = image_rngs(seed, name, split, cls, i)
    surf = make_surface(name, P, rs, n)
    file = f"{i:04d}.png"
    base = os.path.join(out, name, split)
    if cls == "good":
        to_png(os.path.join(base, "good", file), surf["tex"] + surf["light"] + surf["noise"])
        return None
    tex, mask, info = add_defect(name, P, surf, rd, n)
    to_png(os.path.join(base, "defect", file), tex + surf["light"] + surf["noise"])
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(os.path.join(base, "masks", file))
    return split, file, info


def jsonable(v):
    """The parameters as plain JSON values."""
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [jsonable(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return round(float(v), 5)
    if isinstance(v, np.integer):
        return int(v)
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--train-good", type=int, default=120)
    ap.add_argument("--train-defect", type=int, default=30)
    ap.add_argument("--test-good", type=int, default=80)
    ap.add_argument("--test-defect", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    a = ap.parse_args()
    names = [f for f in a.families.split(",") if f]
    bad = [f for f in names if f not in FAMILY]
    if bad or a.seed < 0 or a.size < 32:
        sys.exit(f"ood_textures.py: unknown families {bad}" if bad else "ood_textures.py: seed >= 0, size >= 32")
    counts = {("train", "good"): a.train_good, ("train", "defect"): a.train_defect,
              ("test", "good"): a.test_good, ("test", "defect"): a.test_defect}
    t0 = time.time()
    with Pool(max(1, a.jobs)) as pool:
        for name in names:
            t1 = time.time()
            P = family_params(a.seed, name)
            for split in ("train", "test"):
                for sub in ("good", "defect", "masks"):
                    os.makedirs(os.path.join(a.out_dir, name, split, sub), exist_ok=True)
            tasks = [(a.out_dir, name, P, a.seed, split, cls, i, a.size)
                     for (split, cls), c in counts.items() for i in range(c)]
            defects = {"train": {}, "test": {}}
            for r in pool.imap(make_image, tasks, chunksize=4):
                if r is not None:
                    defects[r[0]][r[1]] = r[2]
            info = dict(family=name, seed=a.seed, size=a.size, params=jsonable(P),
                        kinds=list(DEFECT_KINDS[name]), defects=defects)
            with open(os.path.join(a.out_dir, name, "info.json"), "w") as f:
                json.dump(info, f, indent=1)
            print(f"{name}: {len(tasks)} images in {time.time() - t1:.1f} s", file=sys.stderr)
    print(f"total {time.time() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
