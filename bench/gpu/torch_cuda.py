"""torch_cuda.py: the PyTorch side of bench_cuda.c on the same GPU: the MoE layer of torch_ref.py
(softmax router, top-2 renormalised, tokens sorted by expert, one Linear pair per expert, a shared
expert, the Switch auxiliary loss) forward + backward, and the experts' first GEMM done the way
PyTorch code usually does it (one matmul per expert over its block of rows) against one dense
matmul of the same FLOPs, and torch_ref.py's 3D and 2D conv stacks; in fp32, tf32 and bf16
(autocast; the conv stacks run TF32 in the bf16 mode, as bench_cuda). Timing as bench_cuda: median of
REPS after two warm-up runs, with torch.cuda.synchronize around each.
Usage: python3 torch_cuda.py moe|grouped|conv3d|conv2d [TOKENS or BATCH] [REPS]. One JSON line per
measurement; without PyTorch or without a CUDA device, one line with "error"."""
import json
import os
import statistics
import sys
import time

MODES = ("fp32", "tf32", "bf16")


def timed(fn, reps, torch):
    times = []
    for r in range(reps + 2):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        if r >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def set_mode(torch, mode):
    tf32 = mode != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16")


def bench_moe(torch, tokens, reps):
    from torch_ref import MoE
    torch.manual_seed(1)
    model = MoE(256, 512, 16, 2, 1).cuda()
    x = torch.randn(tokens, 256, device="cuda", requires_grad=True)
    for mode in MODES:
        autocast = set_mode(torch, mode)

        def step():
            model.zero_grad(set_to_none=True)
            x.grad = None
            with autocast:
                out, aux = model(x)
            ((out.float() * 1e-3).sum() + aux.float()).backward()

        print(json.dumps({"case": "moe", "impl": "pytorch", "torch": torch.__version__, "math": mode, "tokens": tokens,
                          "ms": round(timed(step, reps, torch), 3)}))


def bench_conv(torch, dims, batch, reps):
    from torch_ref import conv_stack
    torch.manual_seed(1)
    if dims == 3:
        model = conv_stack(torch.nn.Conv3d, torch.nn.BatchNorm3d, 1).cuda()
        x = torch.randn(batch, 1, 32, 32, 32, device="cuda", requires_grad=True)
    else:
        model = conv_stack(torch.nn.Conv2d, torch.nn.BatchNorm2d, 3).cuda()
        x = torch.randn(batch, 3, 256, 256, device="cuda", requires_grad=True)
    for mode in MODES:
        set_mode(torch, mode)  # convolutions: TF32 in the tf32 and bf16 modes, as bench_cuda

        def step():
            model.zero_grad(set_to_none=True)
            x.grad = None
            out = model(x)
            (out * 1e-3).sum().backward()

        print(json.dumps({"case": f"conv{dims}d", "impl": "pytorch", "torch": torch.__version__, "math": mode,
                          "batch": batch, "ms": round(timed(step, reps, torch), 3)}))


def bench_grouped(torch, tokens, reps):
    gen = torch.Generator().manual_seed(1)
    experts, k, d, f = 16, 2, 256, 512
    counts = torch.bincount(torch.randint(0, experts, (tokens * k,), generator=gen), minlength=experts).tolist()
    rows = tokens * k
    flops = 2.0 * rows * f * d
    for mode in MODES:
        set_mode(torch, mode)
        dtype = torch.bfloat16 if mode == "bf16" else torch.float32
        x = torch.randn(rows, d, device="cuda", dtype=dtype)
        w = torch.randn(experts, f, d, device="cuda", dtype=dtype) * 0.0625
        blocks = list(torch.split(x, counts))

        def per_expert():
            return [torch.nn.functional.linear(b, w[e]) for e, b in enumerate(blocks)]

        def dense():
            return torch.nn.functional.linear(x, w[0])

        tg, td = timed(per_expert, reps, torch), timed(dense, reps, torch)
        print(json.dumps({"case": "grouped", "impl": "pytorch", "torch": torch.__version__, "math": mode,
                          "tokens": tokens, "grouped_ms": round(tg, 4), "dense_ms": round(td, 4),
                          "grouped_tflops": round(flops / tg * 1e-9, 2), "dense_tflops": round(flops / td * 1e-9, 2),
                          "fraction_of_dense": round(td / tg, 3)}))


def main():
    cases = ("moe", "grouped", "conv3d", "conv2d")
    if len(sys.argv) < 2 or sys.argv[1] not in cases:
        sys.exit("usage: torch_cuda.py moe|grouped|conv3d|conv2d [TOKENS] [REPS]")
    case = sys.argv[1]
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else (8 if case.startswith("conv") else 8192)
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"case": case, "impl": "pytorch", "error": f"no PyTorch: {e}"}))
        return
    if not torch.cuda.is_available():
        print(json.dumps({"case": case, "impl": "pytorch", "torch": torch.__version__, "error": "no CUDA device for PyTorch"}))
        return
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if case == "moe":
        bench_moe(torch, tokens, reps)
    elif case == "grouped":
        bench_grouped(torch, tokens, reps)
    else:
        bench_conv(torch, int(case[4]), tokens, reps)


if __name__ == "__main__":
    main()
