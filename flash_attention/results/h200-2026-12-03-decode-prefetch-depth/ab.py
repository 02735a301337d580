"""A/B summary of interleaved decode-suite runs: per kernel and context, each variant's mean time
per call and % of copy bandwidth over its rounds (the rounds' values in brackets).

Usage: python3 ab.py DIR head,exp-s2,exp-ramp   (reads DIR/<variant>-r<N>.json)
"""
import glob
import json
import statistics as st
import sys

folder, variants = sys.argv[1], sys.argv[2].split(",")
runs = {}
for v in variants:
    for f in sorted(glob.glob(f"{folder}/{v}-r*.json")):
        for r in json.load(open(f))["results"]:
            key = (r["params"]["kernel"], r["params"]["context"], v)
            runs.setdefault(key, []).append(
                (r["time_ms"]["median"] * 1e3, r["extra"]["fraction_of_copy_bw"] * 100))
for kernel, ctx in sorted({(k, c) for k, c, _ in runs}):
    cells = []
    for v in variants:
        xs = runs.get((kernel, ctx, v))
        if xs:
            rounds = "/".join(f"{x[1]:.1f}" for x in xs)
            cells.append(f"{v}: {st.mean(x[0] for x in xs):6.2f}us "
                         f"{st.mean(x[1] for x in xs):5.1f}% ({rounds})")
    print(f"{kernel:22s} {ctx:7d}", "  ".join(cells))
