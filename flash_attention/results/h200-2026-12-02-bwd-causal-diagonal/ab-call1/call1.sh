#!/usr/bin/env bash
# Session 10, call 1: v1 = causal diagonal: wholly masked S tiles and dV/dK warps skipped, S layout
# queries-fastest; v2 = v1 + dQ's upper key half skipped where masked; v3 = v2 + the first step
# waits for K and Q only before S (V and dO before dP). GPU tests of v2, v3 (v1's code is a subset
# of v2's); A/B head/v1/v2/v3 interleaved, two rounds.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s); R=/tmp/r1; mkdir -p $R
save() { tar -czf $OUT/call1.tgz -C $R .; }
B=/tmp/bin; mkdir -p $B; for f in tmp_device/*.gz; do gunzip -c $f > $B/$(basename $f .gz); chmod +x $B/$(basename $f .gz); done
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv > $R/gpu.txt
for v in v2 v3; do
  [ -x $B/gpu_test_$v ] || continue
  $B/gpu_test_$v > $R/gpu_test_$v.txt 2>&1; echo "gpu_test rc=$?" >> $R/gpu_test_$v.txt; tail -3 $R/gpu_test_$v.txt
done
echo "tests at $(( $(date +%s) - t0 )) s"; save
for r in 1 2; do for v in head v1 v2 v3; do
  $B/bench_$v --suite prefill --kernels fa2_bwd --seqlens 2048 8192 16384 --json $R/$v-r$r.json > $R/$v-r$r.txt 2>&1
done; echo "round $r at $(( $(date +%s) - t0 )) s"; save; done
python3 tmp_device/ab.py $R | tee $R/ab.txt
$B/gpu_test_v1 > $R/gpu_test_v1.txt 2>&1; echo "gpu_test rc=$?" >> $R/gpu_test_v1.txt; tail -3 $R/gpu_test_v1.txt
echo "all done at $(( $(date +%s) - t0 )) s"; save
