#!/usr/bin/python3
"""torch_detector.py: moe-medical's nodule detector in PyTorch, with the weights of a model file, on
the patches detector_bench wrote: checks that the outputs match ours, then times the forward pass on
the CPU with the same thread count (median of REPS runs).
Usage: torch_detector.py MODEL OUT_DIR BATCH REPS THREADS  -> one JSON line {"case", "ms", "max_abs_diff"}"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_util import load_safetensors, time_forward  # noqa: E402


def forward(w, x):
    """The layers of med_detector_arch, indexed as in the model file: conv-bn-relu, max-pool,
    conv-bn-relu, a residual block (conv-bn-relu, conv-bn, + skip, relu), squeeze-excitation, CBAM
    spatial attention (5^3), max-pool, conv-bn-relu, global average, linear-relu-linear."""
    def conv(x, i):
        return F.conv3d(x, w[f"{i}.conv.weight"], w[f"{i}.conv.bias"], padding=1)

    def bn(x, i):
        return F.batch_norm(x, w[f"{i}.batchnorm.running_mean"], w[f"{i}.batchnorm.running_var"],
                            w[f"{i}.batchnorm.weight"], w[f"{i}.batchnorm.bias"], training=False, eps=1e-5)
    x = F.max_pool3d(F.relu(bn(conv(x, 0), 1)), 2)
    skip = F.relu(bn(conv(x, 4), 5))
    x = F.relu(bn(conv(skip, 7), 8))
    x = F.relu(bn(conv(x, 10), 11) + skip)
    s = x.mean(dim=(2, 3, 4))
    s = torch.sigmoid(F.linear(F.relu(F.linear(s, w["14.se.w1"], w["14.se.b1"])), w["14.se.w2"], w["14.se.b2"]))
    x = x * s[:, :, None, None, None]
    desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
    x = x * torch.sigmoid(F.conv3d(desc, w["15.spatial_attention.weight"], w["15.spatial_attention.bias"], padding=2))
    x = F.relu(bn(conv(F.max_pool3d(x, 2), 17), 18))
    x = F.relu(F.linear(x.mean(dim=(2, 3, 4)), w["21.linear.weight"], w["21.linear.bias"]))
    return F.linear(x, w["23.linear.weight"], w["23.linear.bias"])


def main():
    model, out_dir, batch, reps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    w, meta = load_safetensors(model)
    shape = json.loads(meta["moesuite.arch"])["input"]
    x = torch.from_numpy(np.fromfile(f"{out_dir}/input.f32", dtype=np.float32).reshape([batch] + shape))
    ours = np.fromfile(f"{out_dir}/output.f32", dtype=np.float32)
    ms, diff = time_forward(forward, w, x, ours, reps)
    print(json.dumps({"case": f"detector{batch}", "ms": ms, "max_abs_diff": diff}))


if __name__ == "__main__":
    main()
