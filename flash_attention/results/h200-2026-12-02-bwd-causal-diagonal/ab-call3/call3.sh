#!/usr/bin/env bash
# Session 10, call 3: v8 = head with the d 128 S/dP warps queries-fastest (d 128 machine code = v5
# of call 2, d 64 = head). GPU tests; A/B head/v8 two rounds; full bench of v8; memcheck and
# racecheck.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s); R=/tmp/r3; mkdir -p $R
save() { tar -czf $OUT/call3.tgz -C $R .; }
B=/tmp/bin; mkdir -p $B; for f in tmp_device/*.gz; do gunzip -c $f > $B/$(basename $f .gz); chmod +x $B/$(basename $f .gz); done
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv > $R/gpu.txt
$B/gpu_test_v8 > $R/gpu_test_v8.txt 2>&1; echo "gpu_test rc=$?" >> $R/gpu_test_v8.txt; tail -3 $R/gpu_test_v8.txt
echo "tests at $(( $(date +%s) - t0 )) s"; save
for r in 1 2; do for v in head v8; do
  $B/bench_$v --suite prefill --kernels fa2_bwd --seqlens 2048 8192 16384 --json $R/$v-r$r.json > $R/$v-r$r.txt 2>&1
done; echo "round $r at $(( $(date +%s) - t0 )) s"; save; done
python3 tmp_device/ab2.py $R | tee $R/ab.txt
$B/bench_v8 --suite all --json $R/final-v8.json > $R/final-v8.txt 2>&1; echo "final rc=$?"; tail -3 $R/final-v8.txt
echo "full bench done at $(( $(date +%s) - t0 )) s"; save
timeout 100 compute-sanitizer --tool memcheck $B/gpu_test_v8 "FA2 backward matches the reference gradients" > $R/memcheck.txt 2>&1
echo "memcheck rc=$?" >> $R/memcheck.txt; tail -2 $R/memcheck.txt; save
timeout 80 compute-sanitizer --tool racecheck $B/gpu_test_v8 "the FA2 backward's dK and dV are deterministic: identical bits across runs" > $R/racecheck.txt 2>&1
echo "racecheck rc=$?" >> $R/racecheck.txt; tail -3 $R/racecheck.txt
echo "all done at $(( $(date +%s) - t0 )) s"; save
