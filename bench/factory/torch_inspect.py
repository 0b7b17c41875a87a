#!/usr/bin/python3
"""torch_inspect.py: the supervised inspection network of moe-factory in PyTorch, with the weights
inspect_bench wrote, on the same input: checks that the output matches ours, then times the forward
pass on the CPU with the same thread count (median of REPS runs).
Usage: torch_inspect.py OUT_DIR SIZE REPS THREADS  -> one JSON line {"case", "ms", "max_abs_diff"}"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_util import load_safetensors, time_forward  # noqa: E402


def forward(w, x):
    """conv-bn-relu (stride 2) x3, squeeze-excitation, dilated conv-bn-relu, CBAM spatial attention,
    1x1 conv to the defect logits: the layers of fab_inspector_arch, indexed as in the model file."""
    def cbr(x, i, stride, pad, dil):
        x = F.conv2d(x, w[f"{i}.conv.weight"], w[f"{i}.conv.bias"], stride=stride, padding=pad, dilation=dil)
        x = F.batch_norm(x, w[f"{i+1}.batchnorm.running_mean"], w[f"{i+1}.batchnorm.running_var"],
                         w[f"{i+1}.batchnorm.weight"], w[f"{i+1}.batchnorm.bias"], training=False, eps=1e-5)
        return F.relu(x)
    x = cbr(x, 0, 2, 1, 1)
    x = cbr(x, 3, 2, 1, 1)
    x = cbr(x, 6, 2, 1, 1)
    s = x.mean(dim=(2, 3))
    s = torch.sigmoid(F.linear(F.relu(F.linear(s, w["9.se.w1"], w["9.se.b1"])), w["9.se.w2"], w["9.se.b2"]))
    x = x * s[:, :, None, None]
    x = cbr(x, 10, 1, 2, 2)
    desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    g = torch.sigmoid(F.conv2d(desc, w["13.spatial_attention.weight"], w["13.spatial_attention.bias"], padding=3))
    x = x * g
    return F.conv2d(x, w["14.conv.weight"], w["14.conv.bias"])


def main():
    out_dir, size, reps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    w, _ = load_safetensors(f"{out_dir}/inspect_bench.safetensors")
    x = torch.from_numpy(np.fromfile(f"{out_dir}/input.f32", dtype=np.float32).reshape(1, 1, size, size))
    ours = np.fromfile(f"{out_dir}/output.f32", dtype=np.float32)
    ms, diff = time_forward(forward, w, x, ours, reps)
    print(json.dumps({"case": f"inspect{size}", "ms": ms, "max_abs_diff": diff}))


if __name__ == "__main__":
    main()
