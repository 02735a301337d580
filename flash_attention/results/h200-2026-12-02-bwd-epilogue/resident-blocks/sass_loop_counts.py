# Instruction counts between the first and the last HMMA of each bf16 one-block-per-tile (Lb0)
# backward kernel in a gzipped `cuobjdump -sass` listing: the query loop, where both builds have
# the same 640 HMMA.
import collections, gzip, re, sys
for f in sys.argv[1:]:
    for fn in re.split(r"\n\s*Function : ", gzip.open(f, 'rt').read())[1:]:
        name = fn.split("\n", 1)[0]
        if 'bfloat16' not in name or 'Lb0' not in name:
            continue
        ops = [m.group(2).split('.')[0] for m in
               re.finditer(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", fn)]
        hmma = [i for i, o in enumerate(ops) if o == 'HMMA']
        body = collections.Counter(ops[hmma[0]:hmma[-1] + 1])
        print(f"{f} {name[:64]}: {sum(body.values())} instructions, " +
              ", ".join(f"{k} {v}" for k, v in body.most_common(12)))
