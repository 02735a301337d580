# Per-case mean of the rounds, each variant's ratio to head, and the geomean over cases.
import json, glob, sys, math, collections
R = sys.argv[1]
runs = collections.defaultdict(list)
for f in sorted(glob.glob(R + '/*-r*.json')):
    v = f.split('/')[-1].rsplit('-r', 1)[0]
    runs[v].append({r['case']: r['tflops'] for r in json.load(open(f))['results']})
mean = {v: {k: sum(x[k] for x in rs) / len(rs) for k in rs[0]} for v, rs in runs.items()}
vs = ['head'] + sorted(v for v in mean if v != 'head')
print(f"{'case':28s}" + f"{vs[0]:>9s}" + ''.join(f"{v:>13s}" for v in vs[1:]))
for k in mean['head']:
    print(f"{k:28s}" + ''.join(f"{mean[v][k]:9.1f}" for v in vs[:1]) +
          ''.join(f"{mean[v][k]:7.1f}{(mean[v][k]/mean['head'][k]-1)*100:+5.1f}%" for v in vs[1:]))
for v in vs[1:]:
    g = math.exp(sum(math.log(mean[v][k] / mean['head'][k]) for k in mean['head']) / len(mean['head']))
    print(f"geomean {v}/head {g:.4f}")
