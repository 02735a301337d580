#!/usr/bin/env bash
# Session 10, call 2: v4 = head + the first step waits for K and Q only before S; v5 = head +
# the S layout queries-fastest only; v6 = head + wholly masked S tiles and dV/dK warps skipped,
# in a separate copy of the step run only where the step crosses the causal diagonal.
# v7 = v4 + v6.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s); R=/tmp/r2; mkdir -p $R
save() { tar -czf $OUT/call2.tgz -C $R .; }
B=/tmp/bin; mkdir -p $B; for f in tmp_device/*.gz; do gunzip -c $f > $B/$(basename $f .gz); chmod +x $B/$(basename $f .gz); done
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv > $R/gpu.txt
for v in v4 v6 v7; do
  [ -x $B/gpu_test_$v ] || continue
  $B/gpu_test_$v > $R/gpu_test_$v.txt 2>&1; echo "gpu_test rc=$?" >> $R/gpu_test_$v.txt; tail -3 $R/gpu_test_$v.txt
done
echo "tests at $(( $(date +%s) - t0 )) s"; save
for r in 1 2; do for v in head v4 v5 v6 v7; do
  $B/bench_$v --suite prefill --kernels fa2_bwd --seqlens 2048 8192 16384 --json $R/$v-r$r.json > $R/$v-r$r.txt 2>&1
done; echo "round $r at $(( $(date +%s) - t0 )) s"; save; done
python3 tmp_device/ab.py $R | tee $R/ab.txt
echo "all done at $(( $(date +%s) - t0 )) s"; save
