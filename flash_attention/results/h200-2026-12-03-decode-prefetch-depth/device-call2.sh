#!/usr/bin/env bash
# Session 14, call 2: decode variants s2 (2 pipeline stages at d 128) and il (a tile's key tiles
# interleaved across all its splits' warps) against head and p, five interleaved rounds without
# the checks (their decode GPU tests first); then racecheck of the
# Flash-Decoding reference test on ef63ce0's own binary with a longer limit (call 1's hit 100 s).
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s); R=/tmp/r2; mkdir -p $R
save() { tar -czf $OUT/call2.tgz -C $R .; }
B=/tmp/bin; mkdir -p $B
for f in tmp_device/*.gz; do gunzip -c "$f" > $B/$(basename "$f" .gz); chmod +x $B/$(basename "$f" .gz); done
cd flash_attention
for v in exp-s2 exp-il; do
  timeout 90 $B/gpu_test_$v "Flash-Decoding*" > $R/gpu_test_$v.txt 2>&1; echo "rc=$?" >> $R/gpu_test_$v.txt; tail -n 3 $R/gpu_test_$v.txt; save
done
for r in 1 2 3 4 5; do for v in head exp-s2 exp-il exp-p; do
  timeout 60 $B/bench_$v --suite decode --no-check --json $R/$v-r$r.json > $R/$v-r$r.txt 2>&1; save
done; done
for v in head exp-il; do
  timeout 60 $B/bench_$v --suite decode --no-check --decode-splits 12 14 --json $R/$v-splits.json > $R/$v-splits.txt 2>&1; save
done
echo "A/B done at $(( $(date +%s) - t0 )) s"
t="Flash-Decoding (split-KV*"
timeout 300 compute-sanitizer --tool racecheck --error-exitcode 1 $B/gpu_test_head "$t" > $R/racecheck_head_reference.txt 2>&1; echo "rc=$?" >> $R/racecheck_head_reference.txt; tail -n 4 $R/racecheck_head_reference.txt; save
echo "all done at $(( $(date +%s) - t0 )) s"; save
