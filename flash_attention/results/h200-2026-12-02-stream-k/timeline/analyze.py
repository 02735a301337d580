import csv,sys,statistics as st
def load(f):
    rows=[r for r in csv.DictReader(open(f))]
    return [dict(k=int(r['kernel']),b=int(r['block']),sm=int(r['sm']),s=int(r['start']),e=int(r['end'])) for r in rows]
for f in sys.argv[1:]:
    R=load(f); t0=min(r['s'] for r in R)
    for r in R: r['s']-=t0; r['e']-=t0
    span=max(r['e'] for r in R)
    busy=sum(r['e']-r['s'] for r in R)
    sms=sorted(set(r['sm'] for r in R))
    print(f"== {f}: blocks {len(R)}, SMs {len(sms)}, span {span/1e3:.1f} us, busy/132 {busy/132/1e3:.1f} us, efficiency {busy/132/span*100:.1f}%")
    for k in (0,1):
        K=[r for r in R if r['k']==k]
        if not K: continue
        d=[r['e']-r['s'] for r in K]
        last={}
        for r in K: last[r['sm']]=max(last.get(r['sm'],0),r['e'])
        first={}
        for r in K: first[r['sm']]=min(first.get(r['sm'],1<<62),r['s'])
        print(f"  kernel {k}: {len(K)} blocks, dur median {st.median(d)/1e3:.1f} us (min {min(d)/1e3:.1f}, max {max(d)/1e3:.1f}), "
              f"start {min(first.values())/1e3:.1f}-{max(first.values())/1e3:.1f} us, per-SM last end {min(last.values())/1e3:.1f}-{max(last.values())/1e3:.1f} us")
        # per-SM blocks count
        cnt={}
        for r in K: cnt[r['sm']]=cnt.get(r['sm'],0)+1
        print(f"     blocks per SM: {sorted(set(cnt.values()))}, idle after last end (sum over SMs)/132: {sum(span-v for v in last.values())/132/1e3:.1f} us")
    # idle breakdown: per SM, time not busy within [0,span]
    per={}
    for r in R: per.setdefault(r['sm'],[]).append((r['s'],r['e']))
    idle=[span-sum(e-s for s,e in v) for v in per.values()]
    print(f"  idle per SM: median {st.median(idle)/1e3:.1f} us, mean {st.mean(idle)/1e3:.1f}, max {max(idle)/1e3:.1f}")
