#!/usr/bin/env bash
# Session 14, call 1: decode variants p (8aad367: every pipeline stage requested before the first
# compute) and pc (afa8e7a: p + warp merge stores only the tile's rows) against head (ef63ce0's
# binary; HEAD d755ead's decode .text is identical): decode GPU tests, interleaved A/B of the
# decode suite, then sanitizers of ef63ce0's own binary (not run last session).
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s); R=/tmp/r1; mkdir -p $R
save() { tar -czf $OUT/call1.tgz -C $R .; }
B=/tmp/bin; mkdir -p $B
for f in tmp_device/*.gz; do gunzip -c "$f" > $B/$(basename "$f" .gz); chmod +x $B/$(basename "$f" .gz); done
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv > $R/gpu.txt
cd flash_attention
for v in exp-p exp-pc; do
  timeout 90 $B/gpu_test_$v "Flash-Decoding*" > $R/gpu_test_$v.txt 2>&1; echo "rc=$?" >> $R/gpu_test_$v.txt; tail -n 3 $R/gpu_test_$v.txt; save
done
echo "tests done at $(( $(date +%s) - t0 )) s"
for r in 1 2 3; do for v in head exp-p exp-pc; do
  c=""; [ $r -gt 1 ] && c="--no-check"
  timeout 60 $B/bench_$v --suite decode $c --json $R/$v-r$r.json > $R/$v-r$r.txt 2>&1; save
done; echo "round $r done at $(( $(date +%s) - t0 )) s"; done
grep -h "flash_decode_pdl " $R/*-r*.txt | cut -c1-100
for t in "Flash-Decoding (split-KV*" "Flash-Decoding calls overlapped back to back give each call's result alone"; do
  n=$(echo "$t" | cut -c1-30 | tr -c 'a-zA-Z0-9\n' '_')
  for tool in memcheck racecheck; do
    timeout 100 compute-sanitizer --tool $tool --error-exitcode 1 $B/gpu_test_head "$t" > $R/${tool}_head_$n.txt 2>&1; echo "rc=$?" >> $R/${tool}_head_$n.txt; tail -n 2 $R/${tool}_head_$n.txt; save
  done
done
echo "all done at $(( $(date +%s) - t0 )) s"; save
