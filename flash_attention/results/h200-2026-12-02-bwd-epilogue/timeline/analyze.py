# Per-block timeline of the FA2 backward (trace.diff, one block per tile) with each block's query
# steps: fit duration = a + b*steps; split a into prologue (start->data
# landed), loop, epilogue (loop end -> end) and the gap between consecutive blocks on an SM.
import csv, gzip, sys, statistics as st
def load(f):
    op = gzip.open if f.endswith('.gz') else open
    rows = list(csv.DictReader(op(f, 'rt')))
    return [dict(k=int(r['kernel']), b=int(r['block']), sm=int(r['sm']), s=int(r['start']), e=int(r['end']),
                 n=int(r['steps']), l=int(r['landed']), le=int(r['loop_end'])) for r in rows]
for f in sys.argv[1:]:
    R = [r for r in load(f) if r['k'] == 0]
    t0 = min(r['s'] for r in R); span = max(r['e'] for r in R) - t0
    n = len(R); xs = [r['n'] for r in R]; ys = [(r['e'] - r['s']) / 1e3 for r in R]
    mx, my = st.mean(xs), st.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else float('nan')
    a = my - b * mx if sxx else float('nan')
    pro = [(r['l'] - r['s']) / 1e3 for r in R if r['l']]
    epi = [(r['e'] - r['le']) / 1e3 for r in R if r['le']]
    loop = [((r['le'] - r['l']) / 1e3, r['n']) for r in R if r['l'] and r['le'] and r['n'] > 1]
    per = {}
    for r in R: per.setdefault(r['sm'], []).append((r['s'], r['e']))
    gaps = []; tail = []
    for v in per.values():
        v.sort(); gaps += [(v[i + 1][0] - v[i][1]) / 1e3 for i in range(len(v) - 1)]
        tail.append((t0 + span - v[-1][1]) / 1e3)
    steps_total = sum(xs)
    print(f"== {f}: blocks {n}, SMs {len(per)}, span {span/1e3:.1f} us, steps {steps_total} ({steps_total/len(per):.1f}/SM)")
    fit = f"fit dur = {a:.2f} + {b:.4f} * steps us" if sxx else f"every block {xs[0]} steps"
    print(f"  {fit}; prologue (start->data landed) median {st.median(pro):.2f} us, "
          f"epilogue (loop end->end) median {st.median(epi):.2f} us")
    print(f"  query loop (first data landed -> loop end) per step: median {st.median([t/s for t,s in loop]):.3f} us")
    print(f"  gap between blocks on an SM: median {st.median(gaps):.2f}, mean {st.mean(gaps):.2f} us; tail idle per SM: mean {st.mean(tail):.1f}, max {max(tail):.1f} us")
    busy = sum(y for y in ys)
    split = f"; of which steps*b {steps_total*b/len(per):.1f}, per-block const {n*a/len(per):.1f}" if sxx else ""
    print(f"  busy/SM {busy/len(per):.1f} us{split}; idle: gaps {sum(gaps)/len(per):.1f}, tail {st.mean(tail):.1f}")
    # by step-count buckets
    byn = {}
    for r in R: byn.setdefault(r['n'], []).append((r['e'] - r['s']) / 1e3)
    ks = sorted(byn)
    sel = [ks[0], ks[1] if len(ks) > 1 else ks[0], ks[len(ks)//4], ks[len(ks)//2], ks[-1]]
    print("  median dur by steps: " + ", ".join(f"{k}: {st.median(byn[k]):.1f}" for k in sorted(set(sel))))
