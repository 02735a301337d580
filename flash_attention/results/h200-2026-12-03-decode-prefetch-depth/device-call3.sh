#!/usr/bin/env bash
# Session 14, call 3: decode variant ramp (252d802: one key tile per warp before the first
# compute, the rest of the pipeline after it lands) against head (ef63ce0's binary) and s2
# (2 stages at d 128): ramp's GPU tests, five interleaved rounds of the decode suite without
# checks, ramp's full bench (with checks), then memcheck and racecheck of the two decode tests.
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s); R=/tmp/r3; mkdir -p $R
save() { tar -czf $OUT/call3.tgz -C $R .; }
B=/tmp/bin; mkdir -p $B
for f in tmp_device/*.gz; do gunzip -c "$f" > $B/$(basename "$f" .gz); chmod +x $B/$(basename "$f" .gz); done
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv > $R/gpu.txt
cd flash_attention
timeout 120 $B/gpu_test_exp-ramp > $R/gpu_test_exp-ramp.txt 2>&1; echo "rc=$?" >> $R/gpu_test_exp-ramp.txt; tail -n 3 $R/gpu_test_exp-ramp.txt; save
for r in 1 2 3 4 5; do for v in head exp-s2 exp-ramp; do
  timeout 60 $B/bench_$v --suite decode --no-check --json $R/$v-r$r.json > $R/$v-r$r.txt 2>&1; save
done; done
echo "A/B done at $(( $(date +%s) - t0 )) s"
timeout 150 $B/bench_exp-ramp --suite all --json $R/full-ramp.json > $R/full-ramp.txt 2>&1; echo "rc=$?" >> $R/full-ramp.txt; tail -n 3 $R/full-ramp.txt; save
echo "full done at $(( $(date +%s) - t0 )) s"
for t in "Flash-Decoding calls overlapped back to back give each call's result alone" "Flash-Decoding (split-KV*"; do
  n=$(echo "$t" | cut -c1-30 | tr -c 'a-zA-Z0-9\n' '_')
  for tool in memcheck racecheck; do
    timeout 200 compute-sanitizer --tool $tool --error-exitcode 1 $B/gpu_test_exp-ramp "$t" > $R/${tool}_ramp_$n.txt 2>&1; echo "rc=$?" >> $R/${tool}_ramp_$n.txt; tail -n 2 $R/${tool}_ramp_$n.txt; save
  done
done
echo "all done at $(( $(date +%s) - t0 )) s"; save
