# In an `ncu --page source --csv --print-source sass` export (SourceCounters section) of the FA2
# backward: the long-scoreboard stall samples on instructions that overwrite a register holding
# the address of an earlier REDG (the dQ atomics) -- they wait until the LSU has read it --
# against all the kernel's samples; then the kernel's samples by stall reason.
import csv, gzip, io, re, sys
for f in sys.argv[1:]:
    rows = list(csv.reader(io.StringIO(gzip.open(f, 'rt').read().split('\n', 1)[1])))
    head, rows = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    long_sb = head.index('stall_long_sb')
    total = sum(int(r[2]) for r in rows)
    pending, hits, stalled = set(), 0, 0
    for r in rows:
        text = re.sub(r'^@!?U?P\w+\s+', '', r[1].strip())
        op, _, args = text.partition(' ')
        if op.startswith('REDG'):
            base = int(re.search(r'\[R(\d+)\.64', args).group(1))
            pending |= {base, base + 1}
            continue
        dest = re.match(r'R(\d+)\b', args.strip())
        if dest and int(dest.group(1)) in pending:
            hits += 1
            stalled += int(r[long_sb])
            pending.clear()
    print(f"{f}: {total} samples; {stalled} ({100 * stalled / total:.1f}%) long-scoreboard samples "
          f"on {hits} instructions rewriting a REDG address register")
    by_reason = {n[6:]: sum(int(r[i]) for r in rows)
                 for i, n in enumerate(head) if n.startswith('stall_') and 'Not Issued' not in n}
    print("  by reason, % of samples: " + ", ".join(
        f"{k} {100 * v / total:.1f}" for k, v in sorted(by_reason.items(), key=lambda kv: -kv[1])[:8]))
