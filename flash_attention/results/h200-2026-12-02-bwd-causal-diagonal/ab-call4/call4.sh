#!/usr/bin/env bash
# Session 10, call 4, on top of 2188665 (= v8): d 128 warp orders of the other GEMMs. v9 = dQ
# warps queries-fastest, v10 = dV/dK warps keys-fastest, v11 = both. A/B at d 128 (two rounds)
# first, then the GPU tests of v11, v9, v10.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s); R=/tmp/r4; mkdir -p $R
save() { tar -czf $OUT/call4.tgz -C $R .; }
B=/tmp/bin; mkdir -p $B; for f in tmp_device/*.gz; do gunzip -c $f > $B/$(basename $f .gz); chmod +x $B/$(basename $f .gz); done
mv $B/bench_v8 $B/bench_head
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv > $R/gpu.txt
for r in 1 2; do for v in head v9 v10 v11; do
  $B/bench_$v --suite prefill --kernels fa2_bwd --head-dims 128 --seqlens 2048 8192 16384 --json $R/$v-r$r.json > $R/$v-r$r.txt 2>&1
done; echo "round $r at $(( $(date +%s) - t0 )) s"; save; done
python3 tmp_device/ab2.py $R | tee $R/ab.txt; save
for v in v11 v9 v10; do
  $B/gpu_test_$v > $R/gpu_test_$v.txt 2>&1; echo "gpu_test rc=$?" >> $R/gpu_test_$v.txt; tail -3 $R/gpu_test_$v.txt
  echo "test $v at $(( $(date +%s) - t0 )) s"; save
done
echo "all done at $(( $(date +%s) - t0 )) s"; save
