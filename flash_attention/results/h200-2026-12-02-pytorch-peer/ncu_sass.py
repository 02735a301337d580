#!/usr/bin/env python3
"""Reads Nsight Compute source pages (ncu -i R --page source --csv --print-source sass, gzipped).

  ncu_sass.py compare A.csv.gz B.csv.gz ...   stall shares and executed instruction mix, side by side
  ncu_sass.py regions A.csv.gz [window]        stall shares per window of SASS lines, with its ops
  ncu_sass.py top A.csv.gz REASON [n]          the n instructions with most samples of one reason
"""
import collections
import csv
import gzip
import re
import sys

REASONS = ["stall_wait", "stall_short_sb", "stall_mio", "stall_long_sb", "stall_math",
           "stall_barrier", "stall_lg", "stall_selected", "stall_not_selected", "stall_dispatch"]


def load(path):
    with gzip.open(path, "rt") as f:
        rows = list(csv.reader(f))
    header = rows[1]  # rows[0] names the kernel
    return {h: i for i, h in enumerate(header)}, [r for r in rows[2:] if len(r) >= len(header)]


def opcode(source):
    m = re.match(r"(@!?U?P\w+\s+)?([A-Z0-9_]+)", source.strip())
    return m.group(2) if m else "?"


def count(row, ix, column):
    return int(row[ix[column]] or 0)


def compare(paths):
    stats = []
    for path in paths:
        ix, body = load(path)
        reasons = [h for h in ix if h.startswith("stall_") and "Not Issued" not in h]
        stalls, ops = collections.Counter(), collections.Counter()
        for r in body:
            ops[opcode(r[ix["Source"]])] += count(r, ix, "Instructions Executed")
            for s in reasons:
                stalls[s] += count(r, ix, s)
        samples = sum(count(r, ix, "Warp Stall Sampling (All Samples)") for r in body)
        stats.append((stalls, ops, samples))
    print("stall share, % of all samples")
    for k in sorted(set().union(*[s[0] for s in stats]), key=lambda k: -stats[0][0][k]):
        shares = [100.0 * s[0][k] / max(1, s[2]) for s in stats]
        if max(shares) > 0.5:
            print(f"  {k:24s}" + "".join(f"{v:9.1f}" for v in shares))
    print("executed instructions, millions")
    for k in sorted(set().union(*[s[1] for s in stats]), key=lambda k: -max(s[1][k] for s in stats))[:40]:
        print(f"  {k:24s}" + "".join(f"{s[1][k] / 1e6:9.1f}" for s in stats))
    print(f"  {'total':24s}" + "".join(f"{sum(s[1].values()) / 1e6:9.1f}" for s in stats))


def regions(path, window):
    ix, body = load(path)
    total = sum(count(r, ix, "Warp Stall Sampling (All Samples)") for r in body)
    print("line  " + " ".join(f"{x[6:12]:>6s}" for x in REASONS) + "   all  ops")
    for start in range(0, len(body), window):
        seg = body[start:start + window]
        here = sum(count(r, ix, "Warp Stall Sampling (All Samples)") for r in seg)
        if 100 * here / total < 0.5:
            continue
        ops = collections.Counter(opcode(r[ix["Source"]]) for r in seg)
        shares = [100 * sum(count(r, ix, x) for r in seg) / total for x in REASONS]
        print(f"{start:5d} " + " ".join(f"{v:6.2f}" for v in shares) + f" {100 * here / total:6.2f}  "
              + " ".join(f"{k}{v}" for k, v in ops.most_common(5)))


def top(path, reason, n):
    ix, body = load(path)
    total = sum(count(r, ix, "Warp Stall Sampling (All Samples)") for r in body)
    print(f"{reason}: {sum(count(r, ix, reason) for r in body)} of {total} samples")
    for i in sorted(range(len(body)), key=lambda i: -count(body[i], ix, reason))[:n]:
        r = body[i]
        print(f"{count(r, ix, reason):7d} {100 * count(r, ix, reason) / total:5.2f}%  line {i:5d}  "
              f"executed {r[ix['Instructions Executed']]:>9s}  {r[ix['Source']].strip()}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "compare":
        compare(args)
    elif cmd == "regions":
        regions(args[0], int(args[1]) if len(args) > 1 else 100)
    elif cmd == "top":
        top(args[0], args[1], int(args[2]) if len(args) > 2 else 15)
    else:
        sys.exit(__doc__)
