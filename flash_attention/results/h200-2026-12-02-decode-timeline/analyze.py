#!/usr/bin/env python3
"""Per-call timeline of Flash-Decoding from an in-kernel globaltimer trace.

trace.diff (against commit 72f638e) makes thread 0 of every decode block record, in ns:
  t_entry   block start
  t_wait    after griddepcontrol.wait (PDL; a no-op without it)
  t_loop    after the key loop (all of the block's K/V consumed)
  t_part    after the warps' merge and the split's partial O and lse are written
  t_atomic  after __threadfence and the arrival counter's atomicAdd
  t_end     merging block only: after the splits' merge
and the bench dumps one CSV per variant and context (LLMI_DECODE_TRACE=prefix).

Usage: analyze.py trace_flash_decode_pdl_4096.csv ...
Blocks are grouped into calls by their K pointer (each call of the graph reads its own K/V
set) and order of entry; the first and last call are dropped (graph edges).
"""
import collections
import csv
import statistics as st
import sys


def load(path):
    return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(open(path))]


def calls(rows):
    # Calls reading the same K/V set are a whole graph pass apart, so each set's blocks, in
    # order of entry, fall into consecutive groups of one grid each.
    grid = len({r["bid"] & 0xFFFF for r in rows})  # bid: blockIdx.x | blockIdx.y << 8 | smid << 16
    by_k = collections.defaultdict(list)
    for r in rows:
        by_k[r["k"]].append(r)
    out = []
    for rs in by_k.values():
        rs.sort(key=lambda r: r["t_entry"])
        out += [rs[i:i + grid] for i in range(0, len(rs) - grid + 1, grid)]
    out.sort(key=lambda c: min(r["t_entry"] for r in c))
    return out[1:-1]


def med_us(values):
    return st.median(values) / 1000


def summary(path):
    cs = calls(load(path))
    per_block = {
        "entry -> wait": ("t_entry", "t_wait"),
        "wait -> key loop done": ("t_wait", "t_loop"),
        "loop done -> partial written": ("t_loop", "t_part"),
        "partial -> counted (fence + atomic)": ("t_part", "t_atomic"),
        "merging block: counted -> merged": ("t_atomic", "t_end"),
    }
    print(f"{path}: {len(cs)} calls of {len(cs[0])} blocks; medians over calls, in us")
    for name, (a, b) in per_block.items():
        v = [st.median(r[b] - r[a] for r in c if r[b]) for c in cs]
        print(f"  {name:50s} {med_us(v):6.2f}   (median block)")
    ends, gaps, periods, waits = [], [], [], []
    for a, b in zip(cs, cs[1:]):
        end_a = max(r["t_end"] for r in a if r["t_end"])
        wait_b = min(r["t_wait"] for r in b)
        gaps.append(wait_b - end_a)
        periods.append(wait_b - min(r["t_wait"] for r in a))
        waits.append(max(r["t_loop"] for r in b) - wait_b)
    print(f"  {'last merge of call n -> first wait release of n+1':50s} {med_us(gaps):6.2f}")
    print(f"  {'first wait release of n+1 -> its last loop done':50s} {med_us(waits):6.2f}")
    print(f"  {'period (wait release to wait release)':50s} {med_us(periods):6.2f}")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        summary(p)
