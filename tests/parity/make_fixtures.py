#!/usr/bin/python3
"""make_fixtures.py: the PyTorch reference values that tests/parity/test_parity.c compares libmoecore with.

Writes one safetensors file per layer family into the folder of this script:

  linear      fully connected layer: output and the gradients of input, weight and bias
  activation  relu, gelu (exact erf form), silu, sigmoid, tanh: outputs and input gradients
  softmax     softmax over the last axis (one row shifted by +60 to test stability)
  layernorm   output, saved mean and rstd, gradients
  batchnorm   training-mode output, saved statistics, gradients and running statistics after one
              step; evaluation-mode output with those running statistics; (N, C, H, W) and (N, C)
  conv        conv2d (stride 2 + pad 1 + groups 2; dilation 2; all together) and conv3d (pad 1):
              output and dx, dw, db
  pool        max and average pooling in 2D and 3D (average with count_include_pad=False): output,
              the argmax of max pooling, input gradient; global average pooling
  attention   multi-head self-attention, squeeze-excitation and CBAM spatial attention (2D and 3D),
              each written out explicitly in PyTorch exactly as libcore/include/moecore/nn.h defines it
  loss        mse, huber, bce with logits (pos_weight), cross-entropy (one ignored row), focal:
              values and gradients
  moe         the Mixture-of-Experts layer of moe.h written out explicitly: a softmax router with a
              skewed load, capacity 1.0 dropping, one shared expert, aux and z losses; and a sigmoid
              router with norm_topk; output, losses, load, dropped pairs, dx and every parameter gradient
  optim       AdamW with linear warmup + cosine annealing and grad-norm clipping for 20 steps, and SGD
              with momentum for 5 steps, on a small linear regression: parameters after every step

Every backward pass takes the upstream gradient `<case>.dout` (random), i.e. the loss is
sum(out * dout). Integer settings of a case are I32 tensors, real ones F32 tensors of shape [1].
Everything is float32 so that the comparison is of implementations, not precisions.

Run (Debian's Python with python3-torch and python3-numpy; no other package is needed):

    /usr/bin/python3 tests/parity/make_fixtures.py

The output is deterministic: every file starts from its own torch.manual_seed, and PyTorch runs
on one thread. Rerunning rewrites the same files; commit them together with this script.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

# Enumerations of libcore/include/moecore/nn.h and moe.h, as stored in the fixtures.
ACT = {"relu": 1, "gelu": 2, "silu": 3, "sigmoid": 4, "tanh": 5}
ROUTER_SOFTMAX, ROUTER_SIGMOID = 0, 1
BALANCE_NONE, BALANCE_AUX_LOSS = 0, 1
POOL_MAX, POOL_AVG = 0, 1


# ---- safetensors writer ---------------------------------------------------------------------------

def _array(v):
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.dtype in (np.float64, np.float32):
        return np.ascontiguousarray(a, dtype="<f4"), "F32"
    if a.dtype in (np.int64, np.int32, np.bool_):
        return np.ascontiguousarray(a, dtype="<i4"), "I32"
    raise TypeError("unsupported dtype %s" % a.dtype)


def save(name, tensors):
    """Writes tensors (an ordered dict name -> array) as OUT_DIR/<name>.safetensors: 8-byte
    little-endian header length, JSON header padded with spaces to a multiple of 8, then the
    tensors back to back in the order given."""
    header = {"__metadata__": {"format": "pt", "source": "tests/parity/make_fixtures.py"}}
    blobs, offset = [], 0
    for key, value in tensors.items():
        a, dtype = _array(value)
        data = a.tobytes()
        header[key] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    path = os.path.join(OUT_DIR, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    print("%-40s %7d bytes, %3d tensors" % (os.path.relpath(path), os.path.getsize(path), len(tensors)))


def scalar(v):
    return np.array([v], dtype=np.float32)


def ints(*v):
    return np.array(v, dtype=np.int32)


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_()


def uniform(*shape, bound):
    return ((torch.rand(*shape) * 2 - 1) * bound).requires_grad_()


def backward(out, dout):
    """Backpropagates the loss sum(out * dout)."""
    out.backward(dout)


# ---- layers ---------------------------------------------------------------------------------------

def make_linear():
    torch.manual_seed(101)
    N, C, OC = 5, 7, 4
    x, w, b = leaf(N, C), uniform(OC, C, bound=1 / math.sqrt(C)), uniform(OC, bound=1 / math.sqrt(C))
    out = F.linear(x, w, b)
    dout = torch.randn(N, OC)
    backward(out, dout)
    save("linear", {"x": x, "w": w, "b": b, "dout": dout, "out": out, "dx": x.grad, "dw": w.grad, "db": b.grad})


def make_activation():
    torch.manual_seed(102)
    n = 64
    # spread over [-5, 5] and away from 0, where ReLU has no derivative
    x = torch.linspace(-5.0, 5.0, n) + 0.03 * torch.randn(n)
    x = torch.where(x.abs() < 0.05, x.sign() * 0.05 + 0.01, x)
    dout = torch.randn(n)
    t = {"x": x, "dout": dout}
    fns = {"relu": torch.relu, "gelu": lambda v: F.gelu(v, approximate="none"), "silu": F.silu,
           "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    for name, fn in fns.items():
        xi = x.clone().requires_grad_()
        out = fn(xi)
        backward(out, dout)
        t[name + ".out"] = out
        t[name + ".dx"] = xi.grad
    save("activation", t)


def make_softmax():
    torch.manual_seed(103)
    R, C = 6, 10
    x = torch.randn(R, C) * 3
    x[2] += 60.0  # large logits: only a max-subtracting softmax stays finite and exact
    x.requires_grad_()
    out = torch.softmax(x, dim=-1)
    dout = torch.randn(R, C)
    backward(out, dout)
    save("softmax", {"x": x, "dout": dout, "out": out, "dx": x.grad})


def make_layernorm():
    torch.manual_seed(104)
    N, C, eps = 6, 16, 1e-5
    x = (torch.randn(N, C) * 2 + 0.5).requires_grad_()
    w, b = leaf(C), leaf(C)
    out = F.layer_norm(x, (C,), w, b, eps)
    dout = torch.randn(N, C)
    backward(out, dout)
    xd = x.detach()
    mean = xd.mean(dim=1)
    rstd = 1.0 / torch.sqrt(xd.var(dim=1, unbiased=False) + eps)
    save("layernorm", {"eps": scalar(eps), "x": x, "w": w, "b": b, "dout": dout, "out": out, "mean": mean,
                       "rstd": rstd, "dx": x.grad, "dw": w.grad, "db": b.grad})


def make_batchnorm():
    torch.manual_seed(105)
    eps, momentum = 1e-5, 0.1
    t = {"eps": scalar(eps), "momentum": scalar(momentum)}
    for case, shape in (("bn2d", (4, 3, 3, 4)), ("bn1d", (6, 4))):
        C = shape[1]
        x = (torch.randn(*shape) * 1.5 + 0.7).requires_grad_()
        gamma, beta = leaf(C), leaf(C)
        running_mean, running_var = torch.randn(C) * 0.2, torch.rand(C) + 0.5
        rm, rv = running_mean.clone(), running_var.clone()
        out = F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=momentum, eps=eps)
        dout = torch.randn(*shape)
        backward(out, dout)
        dims = [0] + list(range(2, len(shape)))
        xd = x.detach()
        mean = xd.mean(dim=dims)
        rstd = 1.0 / torch.sqrt(xd.var(dim=dims, unbiased=False) + eps)
        x_eval = torch.randn(*shape) * 1.5 + 0.7
        out_eval = F.batch_norm(x_eval, rm, rv, gamma.detach(), beta.detach(), training=False, eps=eps)
        t.update({case + ".x": x, case + ".gamma": gamma, case + ".beta": beta,
                  case + ".running_mean": running_mean, case + ".running_var": running_var,
                  case + ".dout": dout, case + ".out": out, case + ".mean": mean, case + ".rstd": rstd,
                  case + ".dx": x.grad, case + ".dgamma": gamma.grad, case + ".dbeta": beta.grad,
                  case + ".running_mean_after": rm, case + ".running_var_after": rv,
                  case + ".x_eval": x_eval, case + ".out_eval": out_eval})
    save("batchnorm", t)


def make_conv():
    torch.manual_seed(106)
    cases = [
        # name, N, IC, OC, spatial, kernel, stride, pad, dilation, groups
        ("c2d_s2g2", 2, 4, 6, (7, 7), (3, 3), (2, 2), (1, 1), (1, 1), 2),
        ("c2d_dil", 2, 3, 4, (8, 7), (3, 2), (1, 1), (2, 1), (2, 2), 1),
        ("c2d_all", 1, 4, 4, (9, 8), (3, 3), (2, 2), (1, 1), (2, 2), 2),
        ("c3d_p1", 2, 2, 3, (5, 4, 5), (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 1),
    ]
    t = {}
    for name, N, IC, OC, sp, k, s, p, d, g in cases:
        fan_in = IC // g * math.prod(k)
        x = leaf(N, IC, *sp)
        w = uniform(OC, IC // g, *k, bound=1 / math.sqrt(fan_in))
        b = uniform(OC, bound=1 / math.sqrt(fan_in))
        conv = F.conv2d if len(sp) == 2 else F.conv3d
        out = conv(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        dout = torch.randn(*out.shape)
        backward(out, dout)
        t.update({name + ".groups": ints(g), name + ".k": ints(*k), name + ".stride": ints(*s),
                  name + ".pad": ints(*p), name + ".dil": ints(*d), name + ".x": x, name + ".w": w,
                  name + ".b": b, name + ".dout": dout, name + ".out": out, name + ".dx": x.grad,
                  name + ".dw": w.grad, name + ".db": b.grad})
    save("conv", t)


def make_pool():
    torch.manual_seed(107)
    cases = [
        # name, kind, input shape, kernel, stride, pad
        ("max2d", POOL_MAX, (2, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
        ("max2d_overlap", POOL_MAX, (1, 2, 5, 5), (3, 3), (1, 1), (1, 1)),
        ("avg2d", POOL_AVG, (2, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
        ("max3d", POOL_MAX, (1, 2, 5, 6, 5), (3, 3, 3), (2, 2, 2), (1, 1, 1)),
        ("avg3d", POOL_AVG, (1, 2, 5, 6, 5), (3, 2, 3), (2, 2, 1), (1, 1, 1)),
    ]
    t = {}
    for name, kind, shape, k, s, p in cases:
        x = leaf(*shape)
        if kind == POOL_MAX:
            fn = F.max_pool2d if len(k) == 2 else F.max_pool3d
            out, idx = fn(x, k, s, p, return_indices=True)
        else:
            fn = F.avg_pool2d if len(k) == 2 else F.avg_pool3d
            out = fn(x, k, s, p, count_include_pad=False)
        dout = torch.randn(*out.shape)
        backward(out, dout)
        t.update({name + ".kind": ints(kind), name + ".k": ints(*k), name + ".stride": ints(*s),
                  name + ".pad": ints(*p), name + ".x": x, name + ".dout": dout, name + ".out": out,
                  name + ".dx": x.grad})
        if kind == POOL_MAX:
            t[name + ".argmax"] = idx
    x = leaf(2, 3, 4, 5)
    out = x.mean(dim=(2, 3))
    dout = torch.randn(2, 3)
    backward(out, dout)
    t.update({"gap.x": x, "gap.dout": dout, "gap.out": out, "gap.dx": x.grad})
    save("pool", t)


def mhsa(x, w_qkv, b_qkv, w_o, b_o, H):
    """nn.h's formula: qkv (B, T, 3C) = x w_qkv^T + b_qkv, split along C as [q | k | v]; each of
    q, k, v (B, T, C) split into H heads of C/H contiguous columns; att = softmax(q k^T / sqrt(C/H));
    y (B, T, C) = att v with the heads side by side again; out = y w_o^T + b_o."""
    B, T, C = x.shape
    hs = C // H
    qkv = x @ w_qkv.t() + b_qkv
    q, k, v = qkv[..., 0:C], qkv[..., C:2 * C], qkv[..., 2 * C:3 * C]
    heads = lambda m: m.reshape(B, T, H, hs).permute(0, 2, 1, 3)  # (B, H, T, hs)
    q, k, v = heads(q), heads(k), heads(v)
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs), dim=-1)  # (B, H, T, T)
    y = (att @ v).permute(0, 2, 1, 3).reshape(B, T, C)
    out = y @ w_o.t() + b_o
    return out, qkv, att, y


def squeeze_excitation(x, w1, b1, w2, b2):
    """nn.h: out = in * sigmoid(w2 relu(w1 avgpool(in) + b1) + b2), per sample and channel."""
    N, C = x.shape[:2]
    pooled = x.reshape(N, C, -1).mean(dim=2)
    hidden = torch.relu(pooled @ w1.t() + b1)
    gate = torch.sigmoid(hidden @ w2.t() + b2)
    out = x * gate.reshape(N, C, *([1] * (x.dim() - 2)))
    return out, pooled, hidden, gate


def spatial_attention(x, w, b):
    """nn.h: desc = [mean over C, max over C]; gate = sigmoid(conv(desc, w, b), "same" padding);
    out = in * gate."""
    mx = x.max(dim=1, keepdim=True)
    desc = torch.cat([x.mean(dim=1, keepdim=True), mx.values], dim=1)
    conv = F.conv2d if x.dim() == 4 else F.conv3d
    gate = torch.sigmoid(conv(desc, w, b, padding=w.shape[-1] // 2))
    return x * gate, desc, mx.indices.reshape(x.shape[0], -1), gate


def make_attention():
    torch.manual_seed(108)
    t = {}

    B, T, C, H = 2, 5, 8, 2
    x = leaf(B, T, C)
    w_qkv, b_qkv = uniform(3 * C, C, bound=1 / math.sqrt(C)), uniform(3 * C, bound=1 / math.sqrt(C))
    w_o, b_o = uniform(C, C, bound=1 / math.sqrt(C)), uniform(C, bound=1 / math.sqrt(C))
    w_qkv.data *= 2.0  # sharper attention than at initialisation, so the softmax matters
    out, qkv, att, y = mhsa(x, w_qkv, b_qkv, w_o, b_o, H)
    dout = torch.randn(B, T, C)
    backward(out, dout)
    t.update({"mhsa.heads": ints(H), "mhsa.x": x, "mhsa.w_qkv": w_qkv, "mhsa.b_qkv": b_qkv, "mhsa.w_o": w_o,
              "mhsa.b_o": b_o, "mhsa.dout": dout, "mhsa.out": out, "mhsa.qkv": qkv, "mhsa.att": att,
              "mhsa.y": y, "mhsa.dx": x.grad, "mhsa.dw_qkv": w_qkv.grad, "mhsa.db_qkv": b_qkv.grad,
              "mhsa.dw_o": w_o.grad, "mhsa.db_o": b_o.grad})

    N, C, R = 2, 8, 3
    x = (torch.randn(N, C, 3, 4) + 0.3).requires_grad_()
    w1, b1 = uniform(R, C, bound=1.0), uniform(R, bound=0.5)
    w2, b2 = uniform(C, R, bound=1.0), uniform(C, bound=0.5)
    out, pooled, hidden, gate = squeeze_excitation(x, w1, b1, w2, b2)
    assert (pooled @ w1.t() + b1).detach().abs().min() > 1e-3  # no hidden unit sits on ReLU's kink
    dout = torch.randn(*out.shape)
    backward(out, dout)
    t.update({"se.x": x, "se.w1": w1, "se.b1": b1, "se.w2": w2, "se.b2": b2, "se.dout": dout, "se.out": out,
              "se.pooled": pooled, "se.hidden": hidden, "se.gate": gate, "se.dx": x.grad, "se.dw1": w1.grad,
              "se.db1": b1.grad, "se.dw2": w2.grad, "se.db2": b2.grad})

    for name, shape, k in (("sa2d", (2, 4, 6, 7), 7), ("sa3d", (1, 3, 4, 5, 3), 3)):
        x = leaf(*shape)
        w = uniform(1, 2, *([k] * (len(shape) - 2)), bound=1 / math.sqrt(2 * k ** (len(shape) - 2)))
        b = uniform(1, bound=0.2)
        out, desc, argmax_c, gate = spatial_attention(x, w, b)
        dout = torch.randn(*out.shape)
        backward(out, dout)
        t.update({name + ".k": ints(k), name + ".x": x, name + ".w": w, name + ".b": b, name + ".dout": dout,
                  name + ".out": out, name + ".desc": desc, name + ".argmax_c": argmax_c, name + ".gate": gate,
                  name + ".dx": x.grad, name + ".dw": w.grad, name + ".db": b.grad})
    save("attention", t)


# ---- losses ---------------------------------------------------------------------------------------

def focal_loss(logits, target, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss with reduction "mean", written out."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * target + (1 - alpha) * (1 - target)
        loss = alpha_t * loss
    return loss.mean()


def make_loss():
    torch.manual_seed(109)
    t = {}

    def record(name, loss, x, **extra):
        loss.backward()
        t[name + ".loss"] = scalar(loss.item())
        t[name + ".grad"] = x.grad
        for key, value in extra.items():
            t[name + "." + key] = value

    pred, target = leaf(3, 7), torch.randn(3, 7)
    record("mse", F.mse_loss(pred, target), pred, pred=pred, target=target)

    delta = 0.7
    pred, target = leaf(3, 7, scale=1.2), torch.randn(3, 7)
    assert ((pred - target).detach().abs() - delta).abs().min() > 1e-3  # both branches, none on the seam
    record("huber", F.huber_loss(pred, target, delta=delta), pred, pred=pred, target=target, delta=scalar(delta))

    pos_weight = 2.5
    logits = leaf(24, scale=3.0)
    target = torch.cat([torch.randint(0, 2, (16,)).float(), torch.rand(8)])  # hard and soft targets
    record("bce", F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(pos_weight)),
           logits, logits=logits, target=target, pos_weight=scalar(pos_weight))

    N, K = 6, 5
    logits = leaf(N, K, scale=2.0)
    with torch.no_grad():
        logits[1] += 40.0  # stability
    labels = torch.randint(0, K, (N,))
    labels[3] = -100  # ignored, and excluded from the mean (PyTorch's ignore_index)
    record("ce", F.cross_entropy(logits, labels, ignore_index=-100), logits, logits=logits, labels=labels)

    for name, alpha, gamma in (("focal", 0.25, 2.0), ("focal_noalpha", -1.0, 1.5)):
        logits = leaf(20, scale=2.0)
        target = torch.randint(0, 2, (20,)).float()
        record(name, focal_loss(logits, target, alpha, gamma), logits, logits=logits, target=target,
               alpha=scalar(alpha), gamma=scalar(gamma))
    save("loss", t)


# ---- Mixture of Experts ---------------------------------------------------------------------------

def act_fn(name):
    return {"gelu": lambda v: F.gelu(v, approximate="none"), "silu": F.silu, "relu": torch.relu}[name]


def moe_reference(x, p, cfg):
    """moe.h's layer for one training forward without noise or selection bias. Returns the output,
    the aux and z losses, the load per expert before dropping and the number of dropped pairs."""
    T, D = x.shape
    E, k, act = cfg["E"], cfg["k"], act_fn(cfg["act"])
    logits = x @ p["w_router"].t()
    scores = torch.softmax(logits, dim=-1) if cfg["score"] == ROUTER_SOFTMAX else torch.sigmoid(logits)
    topi = torch.topk(scores.detach(), k, dim=-1, sorted=True).indices  # (T, k), highest score first
    chosen = scores.gather(1, topi)
    gates = chosen / chosen.sum(dim=-1, keepdim=True) if cfg["norm_topk"] else chosen

    # capacity: pairs in token order t, then choice order j; an expert keeps at most cap of them
    cap = math.ceil(cfg["capacity"] * T * k / E) if cfg["capacity"] > 0 else T * k
    kept, dropped = [0] * E, 0
    rows = []
    for t in range(T):
        row = torch.zeros(D)
        for j in range(k):
            e = int(topi[t, j])
            if kept[e] >= cap:
                dropped += 1
                continue
            kept[e] += 1
            h = act(x[t] @ p["w1"][e].t() + p["b1"][e])
            row = row + gates[t, j] * (h @ p["w2"][e].t() + p["b2"][e])
        rows.append(row)
    out = torch.stack(rows)
    for s in range(p["ws1"].shape[0]):
        h = act(x @ p["ws1"][s].t() + p["bs1"][s])
        out = out + h @ p["ws2"][s].t() + p["bs2"][s]

    load = torch.bincount(topi.reshape(-1), minlength=E)
    aux = torch.zeros(())
    if cfg["balance"] == BALANCE_AUX_LOSS:
        f = load.float() / (T * k)
        aux = cfg["aux_alpha"] * E * (f * scores.mean(dim=0)).sum()
    z = cfg["z_coef"] * (torch.logsumexp(logits, dim=-1) ** 2).mean()
    return out, aux, z, load, dropped, scores.detach()


def min_gap(scores, k):
    """The smallest gap between consecutive sorted scores down to the (k+1)-th: routing decisions
    (which experts, and in which order) must not depend on rounding."""
    s = torch.sort(scores, dim=-1, descending=True).values[:, :k + 1]
    return float((s[:, :-1] - s[:, 1:]).min())


def make_moe():
    cases = [
        dict(name="softmax_cap", T=16, D=8, F=12, E=4, k=2, S=1, Fs=10, act="gelu", score=ROUTER_SOFTMAX,
             norm_topk=1, balance=BALANCE_AUX_LOSS, aux_alpha=0.1, z_coef=0.01, capacity=1.0, skew=True),
        dict(name="sigmoid", T=12, D=8, F=6, E=6, k=3, S=1, Fs=6, act="silu", score=ROUTER_SIGMOID,
             norm_topk=1, balance=BALANCE_NONE, aux_alpha=0.0, z_coef=0.0, capacity=0.0, skew=False),
    ]
    t = {}
    for seed, c in enumerate(cases):
        torch.manual_seed(110 + seed)
        T, D, F_, E, S, Fs = c["T"], c["D"], c["F"], c["E"], c["S"], c["Fs"]
        for attempt in range(1000):
            bd, bf, bfs = 1 / math.sqrt(D), 1 / math.sqrt(F_), 1 / math.sqrt(Fs)
            p = {"w_router": uniform(E, D, bound=4 * bd), "w1": uniform(E, F_, D, bound=bd),
                 "b1": uniform(E, F_, bound=bd), "w2": uniform(E, D, F_, bound=bf), "b2": uniform(E, D, bound=bf),
                 "ws1": uniform(S, Fs, D, bound=bd), "bs1": uniform(S, Fs, bound=bd),
                 "ws2": uniform(S, D, Fs, bound=bfs), "bs2": uniform(S, D, bound=bfs)}
            x = torch.randn(T, D)
            if c["skew"]:
                # a shared feature that expert 0 (and less so 1) likes: more tokens than it can take
                x[:, 0] = 1.0 + 0.3 * torch.randn(T)
                with torch.no_grad():
                    p["w_router"][0, 0] = 2.0
                    p["w_router"][1, 0] = 1.0
            x.requires_grad_()
            out, aux, z, load, dropped, scores = moe_reference(x, p, c)
            if min_gap(scores, c["k"]) > 2e-3 and (not c["skew"] or dropped >= 3):
                break
        else:
            raise RuntimeError("no well-separated routing found for " + c["name"])
        dout = torch.randn(T, D)
        loss = (out * dout).sum() + aux + z
        loss.backward()
        n = c["name"] + "."
        t.update({n + "d_ff_shared": ints(Fs), n + "top_k": ints(c["k"]), n + "act": ints(ACT[c["act"]]),
                  n + "score": ints(c["score"]), n + "norm_topk": ints(c["norm_topk"]),
                  n + "balance": ints(c["balance"]), n + "aux_alpha": scalar(c["aux_alpha"]),
                  n + "z_coef": scalar(c["z_coef"]), n + "capacity_factor": scalar(c["capacity"]),
                  n + "x": x, n + "dout": dout})
        for key, value in p.items():
            t[n + key] = value
        t.update({n + "out": out, n + "aux_loss": scalar(aux.item()), n + "z_loss": scalar(z.item()),
                  n + "load": load, n + "dropped": ints(dropped), n + "dx": x.grad})
        for key, value in p.items():
            t[n + "d" + key] = value.grad
    save("moe", t)


# ---- optimisers -----------------------------------------------------------------------------------

def lr_at(step, lr, min_lr, warmup, total):
    """optim.h's mc_lr_at: linear warmup to lr over `warmup` steps, then cosine annealing from lr
    to min_lr at `total` steps, min_lr after."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def regression_data(N, C, O):
    x = torch.randn(N, C)
    a = torch.randn(O, C) * 2.0
    y = x @ a.t() + 0.1 * torch.randn(N, O) + 0.5
    # small initial parameters: the float32 spacing around them stays far below one step's update
    w0 = (torch.rand(O, C) * 2 - 1) * 0.05
    b0 = (torch.rand(O) * 2 - 1) * 0.05
    return x, y, w0, b0


def make_optim():
    torch.manual_seed(112)
    N, C, O = 32, 6, 2
    t = {}

    # AdamW, decay on the weight only, warmup + cosine, clipping at 1
    x, y, w0, b0 = regression_data(N, C, O)
    lr, min_lr, wd, beta1, beta2, eps, clip, warmup, steps = 3e-5, 3e-6, 0.1, 0.9, 0.999, 1e-8, 1.0, 5, 20
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = torch.optim.AdamW([{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}],
                            lr=lr, betas=(beta1, beta2), eps=eps)
    ws, bs, lrs, losses, norms = [], [], [], [], []
    for step in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(F.linear(x, w, b), y)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_([w, b], clip)))
        lrs.append(lr_at(step, lr, min_lr, warmup, steps))
        for group in opt.param_groups:
            group["lr"] = lrs[-1]
        opt.step()
        losses.append(loss.item())
        ws.append(w.detach().clone())
        bs.append(b.detach().clone())
    t.update({"adamw.x": x, "adamw.y": y, "adamw.w0": w0, "adamw.b0": b0, "adamw.lr_peak": scalar(lr),
              "adamw.min_lr": scalar(min_lr), "adamw.weight_decay": scalar(wd), "adamw.beta1": scalar(beta1),
              "adamw.beta2": scalar(beta2), "adamw.eps": scalar(eps), "adamw.clip": scalar(clip),
              "adamw.warmup": ints(warmup), "adamw.steps": ints(steps), "adamw.lr": np.array(lrs),
              "adamw.loss": np.array(losses), "adamw.grad_norm": np.array(norms), "adamw.w": torch.stack(ws),
              "adamw.b": torch.stack(bs)})

    # SGD with momentum, weight decay on everything, no clipping
    x, y, w0, b0 = regression_data(N, C, O)
    lr, momentum, wd, steps = 0.05, 0.9, 0.01, 5
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = torch.optim.SGD([w, b], lr=lr, momentum=momentum, weight_decay=wd)
    ws, bs = [], []
    for step in range(steps):
        opt.zero_grad()
        F.mse_loss(F.linear(x, w, b), y).backward()
        opt.step()
        ws.append(w.detach().clone())
        bs.append(b.detach().clone())
    t.update({"sgd.x": x, "sgd.y": y, "sgd.w0": w0, "sgd.b0": b0, "sgd.lr": scalar(lr),
              "sgd.momentum": scalar(momentum), "sgd.weight_decay": scalar(wd), "sgd.steps": ints(steps),
              "sgd.w": torch.stack(ws), "sgd.b": torch.stack(bs)})
    save("optim", t)


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    make_linear()
    make_activation()
    make_softmax()
    make_layernorm()
    make_batchnorm()
    make_conv()
    make_pool()
    make_attention()
    make_loss()
    make_moe()
    make_optim()


if __name__ == "__main__":
    main()
