"""torch_ref.py: the PyTorch (CPU) side of bench/run.sh: the same cases as bench_core.c, with the
same shapes and layers, forward + backward, timed the same way (median of REPS after two warm-up
steps). The MoE layer is written the usual way in PyTorch: softmax router, top-k with renormalised
gates, tokens sorted by expert, one Linear pair per expert on its block, index_add back, a shared
expert and the Switch auxiliary loss. A training step of a conv stack needs no gradient of its
input (bench_core asks for none), so the conv cases' inputs do not require one.
Usage: /usr/bin/python3 torch_ref.py CASE [REPS]  (threads: torch.set_num_threads from OMP_NUM_THREADS)"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


class MoE(torch.nn.Module):
    def __init__(self, d, f, e, k, s):
        super().__init__()
        self.k, self.e = k, e
        self.router = torch.nn.Linear(d, e, bias=False)
        self.w1 = torch.nn.ModuleList(torch.nn.Linear(d, f) for _ in range(e))
        self.w2 = torch.nn.ModuleList(torch.nn.Linear(f, d) for _ in range(e))
        self.s1 = torch.nn.ModuleList(torch.nn.Linear(d, f) for _ in range(s))
        self.s2 = torch.nn.ModuleList(torch.nn.Linear(f, d) for _ in range(s))

    def forward(self, x):
        scores = F.softmax(self.router(x), dim=-1)
        gates, idx = torch.topk(scores, self.k, dim=-1)
        gates = gates / gates.sum(-1, keepdim=True)
        flat = idx.reshape(-1)
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=self.e)
        tokens = order // self.k
        xe = x.index_select(0, tokens)
        out = torch.zeros_like(x)
        for s1, s2 in zip(self.s1, self.s2):
            out = out + s2(F.gelu(s1(x)))
        ys, start = [], 0
        for e, n in enumerate(counts.tolist()):
            if n:
                ys.append(self.w2[e](F.gelu(self.w1[e](xe[start:start + n]))))
            start += n
        ye = torch.cat(ys) * gates.reshape(-1)[order].unsqueeze(1)
        out = out.index_add(0, tokens, ye)
        aux = 0.01 * self.e * ((counts.float() / flat.numel()) * scores.mean(0)).sum()
        return out, aux


def conv_stack(conv, bn, cin):
    return torch.nn.Sequential(conv(cin, 16, 3, padding=1), bn(16), torch.nn.ReLU(),
                               conv(16, 32, 3, padding=1, stride=2), bn(32), torch.nn.ReLU(),
                               conv(32, 32, 3, padding=1), torch.nn.ReLU())


def main():
    case = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(1)
    if case == "moe":
        model, x = MoE(256, 512, 16, 2, 1), torch.randn(8192, 256, requires_grad=True)
    elif case == "conv3d":
        model, x = conv_stack(torch.nn.Conv3d, torch.nn.BatchNorm3d, 1), torch.randn(8, 1, 32, 32, 32)
    elif case == "conv2d":
        model, x = conv_stack(torch.nn.Conv2d, torch.nn.BatchNorm2d, 3), torch.randn(8, 3, 256, 256)
    else:
        sys.exit(f"torch_ref.py: unknown case {case}")
    times = []
    for r in range(reps + 2):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        x.grad = None
        out = model(x)
        if isinstance(out, tuple):
            out, aux = out
        else:
            aux = 0.0
        dout = torch.full_like(out, 1e-3)
        ((out * dout).sum() + aux).backward()
        t1 = time.perf_counter()
        if r >= 2:
            times.append((t1 - t0) * 1e3)
    print(json.dumps({"case": case, "impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2)}))


if __name__ == "__main__":
    main()
