"""torch_util.py: what the PyTorch reference scripts of bench/ share: reading a moesuite model file
(safetensors) into torch tensors, and timing a forward pass against our output the way the C
benchmarks do (three warm-up runs, then the median of REPS)."""
import json
import struct
import time

import numpy as np
import torch


def load_safetensors(path):
    """The float32 tensors of a safetensors file by name, and its __metadata__ (or {})."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(t["shape"]).copy())
    return out, header.get("__metadata__", {})


def time_forward(forward, w, x, ours, reps):
    """(median ms of REPS runs of forward(w, x), largest absolute difference from ours (flat float32))."""
    with torch.no_grad():
        diff = float(np.abs(forward(w, x).numpy().reshape(-1) - ours).max())
        for _ in range(3):
            forward(w, x)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            forward(w, x)
            times.append((time.perf_counter() - t0) * 1000.0)
    return sorted(times)[reps // 2], diff
