#!/usr/bin/env python3
"""Markdown tables for README.md from flash_attention_bench --json output.

Usage: python3 results/make_tables.py results/h200-2026-11-27-prefill.json [more.json ...]
           [--peer peer.json [more-peer.json ...]]

--peer adds tables against PyTorch measured on the same GPU by bench/pytorch_peer.py (the
compiled-in peer figures are an H100's); with several peer runs, each point takes PyTorch's best.
"""
import argparse
import json
import sys


def fail(message):
    print(f"make_tables.py: {message}", file=sys.stderr)
    sys.exit(2)


def load_json(path, kind):
    """A file's JSON, checked to be a `kind` file ("bench": flash_attention_bench --json, with
    "results"; "peer": bench/pytorch_peer.py --json, with "prefill"), or a clear error (exit 2)."""
    try:
        with open(path) as f:
            j = json.load(f)
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        fail(f"{path} is not JSON ({e.msg}, line {e.lineno})")
    key = {"bench": "results", "peer": "prefill"}[kind]
    if not isinstance(j, dict) or key not in j:
        fail(f"{path} is not {kind} output (no \"{key}\")")
    return j


def fmt(x, spec=".0f"):
    return "-" if x is None else format(x, spec)


def main(paths):
    j = load_json(paths[0], "bench")
    for extra in paths[1:]:
        j["results"] += load_json(extra, "bench")["results"]
    rows = {}
    decode = []
    for r in j["results"]:
        p = r["params"]
        if "context" in p:
            decode.append(r)
            continue
        key = (p["head_dim"], p["causal"], p["seqlen"])
        rows.setdefault(key, {})[p["kernel"]] = r
    cop = j["ceilings"]["copy_gbps"]
    print(f"Device: {j['meta'].get('gpu', '?')}; ceilings: bf16 GEMM "
          f"{fmt(j['ceilings']['gemm_bf16_tflops'])} TFLOP/s, copy {fmt(cop)} GB/s\n")
    for direction, kernels, peer in (
            ("forward", ["standard_fwd", "fa1_fwd", "fa2_fwd"], "fwd"),
            ("backward", ["standard_bwd", "fa1_bwd", "fa2_bwd"], "bwd")):
        print(f"**{direction}**, TFLOP/s (bf16, 16k tokens, hidden 2048)\n")
        print("| d | causal | seq | standard | FA1 | FA2 | PyTorch flash | PyTorch cuDNN "
              "| FA2 / PyTorch flash | FA2 speedup vs standard | FA1 speedup vs standard "
              "| S+P memory of standard |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for key in sorted(rows):
            k = rows[key]
            t = {n: (k[n].get("tflops") if n in k else None) for n in kernels}
            fa2 = k.get(kernels[2], {}).get("extra", {})
            fa1 = k.get(kernels[1], {}).get("extra", {})
            mem = fa2.get("memory_saved_bytes_vs_standard")
            print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(t[kernels[0]])} | {fmt(t[kernels[1]], '.1f')} "
                  f"| {fmt(t[kernels[2]])} | {fmt(fa2.get('pytorch_flash_tflops'))} "
                  f"| {fmt(fa2.get('pytorch_cudnn_tflops'))} "
                  f"| {fmt(fa2.get('ratio_vs_pytorch_flash'), '.2f')} "
                  f"| {fmt(fa2.get('speedup_vs_standard'), '.1f')} "
                  f"| {fmt(fa1.get('speedup_vs_standard'), '.2f')} "
                  f"| {fmt(None if mem is None else mem / 2**30, '.2f')} GiB |")
        print()
    print("**decode** (batch 1, 32 q heads, 8 kv heads, d 128, bf16), GB/s of K+V: steady state "
          "(graph of calls over rotating K/V sets) and one call after an L2 overwrite\n")
    print("| context | K+V | no split (GB/s) | Flash-Decoding (GB/s) | % of copy "
          "| overlapped calls, PDL (GB/s) | % of copy | same-bytes copy, % of copy "
          "| one call (GB/s) | one call % of copy | speedup vs no split |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    by_ctx = {}
    for r in decode:
        by_ctx.setdefault(r["params"]["context"], {})[r["params"]["kernel"]] = r
    for ctx in sorted(by_ctx):
        # Runs before 2026-12-02 named the unsplit row fa2_decode_nosplit and timed one call only;
        # the overlapped (PDL) and same-bytes copy rows exist from commit d4402f8 on.
        k = by_ctx[ctx]
        a, b = k.get("decode_nosplit", k.get("fa2_decode_nosplit")), k.get("flash_decode")
        ov, cp = k.get("flash_decode_pdl"), k.get("copy_same_bytes")
        gbps = lambda r: (r or {}).get("gbps")
        kv = 2.0 * ctx * 8 * 128 * 2
        one_ms = (b or {}).get("extra", {}).get("single_call_ms")
        single = None if one_ms is None else kv / (one_ms * 1e6)
        sp = None if not (a and b) else a["time_ms"]["median"] / b["time_ms"]["median"]
        pct = lambda x: "-" if x is None else f"{100 * x / cop:.0f}%"
        print(f"| {ctx} | {kv / 2**20:.0f} MiB | {fmt(gbps(a))} | {fmt(gbps(b))} | {pct(gbps(b))} "
              f"| {fmt(gbps(ov))} | {pct(gbps(ov))} | {pct(gbps(cp))} | {fmt(single)} "
              f"| {pct(single)} | {fmt(sp, '.1f')}x |")
    fails = [r["case"] for r in j["results"] if not r["check_ok"]]
    print(f"\nchecks: {len(j['results']) - len(fails)} ok, {len(fails)} failed {fails}")


def same_gpu_tables(bench_paths, peer_paths):
    ours = {}
    for path in bench_paths:
        for r in load_json(path, "bench")["results"]:
            p = r["params"]
            if p.get("kernel") in ("fa2_fwd", "fa2_bwd"):
                ours[(p["kernel"], p["head_dim"], p["causal"], p["seqlen"])] = r["tflops"]
            elif p.get("kernel") == "flash_decode_pdl":
                ours[("decode", p["context"])] = r["extra"]["fraction_of_copy_bw"]
    best = {}  # PyTorch's best over the peer runs
    gpus = set()
    for path in peer_paths:
        j = load_json(path, "peer")
        gpus.add(j["meta"]["gpu"])
        for r in j["prefill"]:
            for d in ("fwd", "bwd"):
                key = (r["backend"], d, r["head_dim"], r["causal"], r["seqlen"])
                best[key] = max(best.get(key, 0), r.get(f"{d}_tflops", 0))
        for r in j["decode"]:
            key = (r["backend"], "decode", r["context"])
            best[key] = max(best.get(key, 0), r.get("fraction_of_copy_bw", 0))
    print(f"**Against PyTorch on the same GPU** ({', '.join(sorted(gpus))}; each point PyTorch's best "
          f"over {len(peer_paths)} file(s) of bench/pytorch_peer.py), TFLOP/s\n")
    print("| d | causal | seq | FA2 fwd | PyTorch flash fwd | ratio | cuDNN fwd "
          "| FA2 bwd | PyTorch flash bwd | ratio | cuDNN bwd |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted(k[1:] for k in ours if k[0] == "fa2_bwd" and ("flash", "bwd") + k[1:] in best)
    for d, causal, seq in keys:
        row = [str(d), str(causal), str(seq)]
        for dirn in ("fwd", "bwd"):
            o = ours.get((f"fa2_{dirn}", d, causal, seq))
            f = best.get(("flash", dirn, d, causal, seq)) or None
            c = best.get(("cudnn", dirn, d, causal, seq)) or None
            row += [fmt(o), fmt(f), fmt(None if not (o and f) else o / f, ".2f"), fmt(c)]
        print("| " + " | ".join(row) + " |")
    print("\n**Decode against PyTorch on the same GPU**, % of copy bandwidth (steady state)\n")
    print("| context | Flash-Decoding (PDL) | PyTorch flash | PyTorch cuDNN |")
    print("|---|---|---|---|")
    for ctx in sorted(k[1] for k in ours if k[0] == "decode"):
        pct = lambda x: "-" if not x else f"{100 * x:.0f}%"
        print(f"| {ctx} | {pct(ours[('decode', ctx)])} | {pct(best.get(('flash', 'decode', ctx)))} "
              f"| {pct(best.get(('cudnn', 'decode', ctx)))} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Markdown tables for README.md from flash_attention_bench --json output.")
    parser.add_argument("runs", nargs="+", help="flash_attention_bench --json files")
    parser.add_argument("--peer", nargs="+", default=[],
                        help="bench/pytorch_peer.py --json files from the same GPU")
    args = parser.parse_args()
    main(args.runs)
    if args.peer:
        print()
        same_gpu_tables(args.runs, args.peer)
