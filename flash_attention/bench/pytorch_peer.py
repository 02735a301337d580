#!/usr/bin/env python3
"""PyTorch's attention backends on this GPU, on flash_attention_bench's grid and methods.

The peer figures compiled into flash_attention_bench come from an H100
(../shared/anchors/h100-2026-11-23.md). This script measures the same SDPA backends on the GPU
at hand, so a run can put the two side by side on one device:

  prefill: bf16, 16k tokens per batch, hidden 2048 (heads = 2048 / d), seq 512..16k, d 64 and
           128, causal or not; forward, and backward as torch.autograd.grad of the output (its
           dO.O pass and dQ conversion included, as in flash_attention_bench). TFLOP/s counted as
           FlashAttention does: 4 B H S^2 D, halved under the mask; backward 2.5x. L2 is
           overwritten before each timed run; median of --iters runs after --warmup.
  decode:  batch 1, 32 query heads, 8 kv heads (enable_gqa), d 128, one query, context 4k..128k;
           GB/s of K+V read, in steady state: a CUDA graph of one call per K/V set, with enough
           sets that the others overwrite L2 between two reads of one set.

Run on the GPU machine: python3 pytorch_peer.py --json peer.json
Without a GPU, --dry-run prints the grid and the FLOP and byte counts (no torch needed).
"""
import argparse
import json
import math
import statistics
import sys

TOKENS, HIDDEN = 16384, 2048
SEQLENS = (512, 2048, 8192, 16384)
HEAD_DIMS = (64, 128)
CONTEXTS = (4096, 8192, 16384, 32768, 65536, 131072)
DECODE_HEADS_Q, DECODE_HEADS_KV, DECODE_D = 32, 8, 128


def prefill_grid():
    for d in HEAD_DIMS:
        for causal in (False, True):
            for seq in SEQLENS:
                yield {"head_dim": d, "causal": causal, "seqlen": seq,
                       "batch": TOKENS // seq, "heads": HIDDEN // d}


def forward_flops(p):
    f = 4.0 * p["batch"] * p["heads"] * p["seqlen"] ** 2 * p["head_dim"]
    return f / 2 if p["causal"] else f


def decode_kv_bytes(context, elem_bytes=2):
    return 2.0 * context * DECODE_HEADS_KV * DECODE_D * elem_bytes


def median_ms(torch, fn, iters, warmup, flush=None):
    """Median over iters of fn() between two CUDA events, flush() (untimed) before each."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for i in range(warmup + iters):
        if flush is not None:
            flush()
        start.record()
        fn()
        end.record()
        end.synchronize()
        if i >= warmup:
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def run(args):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = props.L2_cache_size
    scratch = torch.empty(2 * l2 // 4 + 1, dtype=torch.float32, device=dev)
    flush = scratch.zero_  # overwrites L2, as the C++ harness does
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}
    report = {"meta": {"gpu": props.name, "sms": props.multi_processor_count, "l2_bytes": l2,
                       "torch": torch.__version__, "cuda": torch.version.cuda,
                       "iters": args.iters, "warmup": args.warmup},
              "ceilings": {}, "prefill": [], "decode": []}

    # Ceilings in this process: a 2 GiB device copy (bytes read + written) and an 8192^3 bf16 GEMM.
    src = torch.empty(2**29, dtype=torch.float32, device=dev)
    dst = torch.empty_like(src)
    ms = median_ms(torch, lambda: dst.copy_(src), args.iters, args.warmup)
    report["ceilings"]["copy_gbps"] = 2 * src.numel() * 4 / (ms * 1e6)
    del src, dst
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
    b = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
    ms = median_ms(torch, lambda: a @ b, args.iters, args.warmup)
    report["ceilings"]["gemm_bf16_tflops"] = 2 * 8192**3 / (ms * 1e9)
    del a, b

    gen = torch.Generator(device=dev).manual_seed(args.seed)
    for p in (prefill_grid() if "prefill" in args.suite else ()):
        b, s, h, d = p["batch"], p["seqlen"], p["heads"], p["head_dim"]

        def tensor(grad):  # FlashAttention's (batch, seq, heads, d) layout, as SDPA's view
            t = torch.randn(b, s, h, d, dtype=torch.bfloat16, device=dev, generator=gen)
            return t.transpose(1, 2).requires_grad_(grad)
        q, k, v, dout = tensor(True), tensor(True), tensor(True), tensor(False)
        flops = forward_flops(p)
        for name, backend in backends.items():
            row = dict(p, backend=name)
            try:
                with sdpa_kernel(backend):
                    out = F.scaled_dot_product_attention(q, k, v, is_causal=p["causal"])
                    fwd = median_ms(torch, lambda: F.scaled_dot_product_attention(
                        q, k, v, is_causal=p["causal"]), args.iters, args.warmup, flush)
                    bwd = median_ms(torch, lambda: torch.autograd.grad(
                        out, (q, k, v), dout, retain_graph=True), args.iters, args.warmup, flush)
                row.update(fwd_ms=fwd, bwd_ms=bwd, fwd_tflops=flops / (fwd * 1e9),
                           bwd_tflops=2.5 * flops / (bwd * 1e9))
            except RuntimeError as e:  # a backend that does not take this shape on this GPU
                row["error"] = str(e).splitlines()[0]
            report["prefill"].append(row)
            print(json.dumps(row), flush=True)
        del q, k, v, dout, out

    for ctx in (CONTEXTS if "decode" in args.suite else ()):
        kv = decode_kv_bytes(ctx)
        sets = 1 + math.ceil(2.0 * l2 / kv)
        q = torch.randn(1, DECODE_HEADS_Q, 1, DECODE_D, dtype=torch.bfloat16, device=dev,
                        generator=gen)
        ks = [torch.randn(1, DECODE_HEADS_KV, ctx, DECODE_D, dtype=torch.bfloat16, device=dev,
                          generator=gen) for _ in range(sets)]
        vs = [torch.randn_like(k) for k in ks]
        for name, backend in backends.items():
            row = {"context": ctx, "backend": name, "kv_sets": sets}
            try:
                with sdpa_kernel(backend):
                    def calls():
                        for k, v in zip(ks, vs):
                            F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
                    calls()  # the backend's workspace and kernel choice, outside capture
                    torch.cuda.synchronize()
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph):
                        calls()
                    ms = median_ms(torch, graph.replay, args.iters, args.warmup) / sets
                gbps = kv / (ms * 1e6)
                row.update(ms_per_call=ms, gbps=gbps,
                           fraction_of_copy_bw=gbps / report["ceilings"]["copy_gbps"])
            except RuntimeError as e:
                row["error"] = str(e).splitlines()[0]
            report["decode"].append(row)
            print(json.dumps(row), flush=True)
        del q, ks, vs
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=("prefill", "decode", "all"), default="all")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the grid with its FLOP and byte counts; needs no GPU")
    args = ap.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        ap.error("--iters must be >= 1 and --warmup >= 0")
    args.suite = ("prefill", "decode") if args.suite == "all" else (args.suite,)
    if args.dry_run:
        grid = {"prefill": [dict(p, fwd_flops=forward_flops(p), bwd_flops=2.5 * forward_flops(p))
                            for p in prefill_grid()] if "prefill" in args.suite else [],
                "decode": [{"context": c, "kv_bytes": decode_kv_bytes(c)} for c in CONTEXTS]
                if "decode" in args.suite else []}
        print(json.dumps(grid, indent=1))
        return 0
    report = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
