#!/usr/bin/env bash
# GPU check: on a machine with a GPU, build for the GPU present, run every test (GPU ones
# included), run compute-sanitizer memcheck over every GPU test executable, and run every
# benchmark in quick mode. Logs and benchmark JSON land in OUT_DIR/gpu_check_logs.tar.gz (one
# file, so it fits the device tool's file limit); a summary table prints last.
#
#   scripts/gpu_check.sh [OUT_DIR]          # default: $OUT, else results/gpu_check
#   GPU_CHECK_ONLY='paged|common' scripts/gpu_check.sh   # restrict tests/benchmarks by regex
#   GPU_CHECK_BENCH_ARGS='--iters 20'       # extra arguments for every benchmark
#   GPU_CHECK_FULL=1                        # benchmarks at their default sizes, not --quick
#   GPU_CHECK_SRC=paged_attention           # configure one directory standalone, not the repo
#   GPU_CHECK_MEMCHECK='sarathi'            # memcheck only these GPU tests (default: GPU_CHECK_ONLY)
#   LLMI_GIT_SHA=abc123                     # commit recorded in the JSON where .git is absent
#
# Exit status: non-zero if the build, any test, any sanitizer run or any benchmark failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-${OUT:-results/gpu_check}}
work=$(mktemp -d)
build=${GPU_CHECK_BUILD:-build/gpu}
src=${GPU_CHECK_SRC:-.}  # a paper directory alone builds too (it pulls in common/)
only=${GPU_CHECK_ONLY:-.}
export NCCL_NVLS_ENABLE=0  # never NVLink multicast: it can take a shared host down
# The benchmarks' JSON names the commit the build came from (cmake/llmi_git_sha.cmake); a copy
# without .git (a lent GPU machine) passes it in as LLMI_GIT_SHA, which the binaries read.
mkdir -p "$out"
status=()
note() { status+=("$(printf '%-44s %s' "$1" "$2")"); }

[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,driver_version,compute_cap,clocks.sm,clocks.mem --format=csv \
  > "$work/nvidia-smi.txt" 2>&1

if cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMI_ALLOW_FETCH=OFF \
     ${LLMI_CMAKE_ARGS:-} > "$work/configure.log" 2>&1 &&
   cmake --build "$build" -j "$(nproc)" -- -k 0 > "$work/build.log" 2>&1; then
  note build ok
else
  note build FAILED  # -k 0 built every target it could; the tests of those still run
  grep -E "FAILED|error" "$work/build.log" | head -n 20
  tail -n 20 "$work/configure.log"
fi

if ctest --test-dir "$build" -R "$only" --output-on-failure -j 4 > "$work/ctest.log" 2>&1; then
  note "ctest ($only)" "$(grep -E 'tests passed' "$work/ctest.log")"
else
  note "ctest ($only)" "FAILED: $(grep -E 'tests passed' "$work/ctest.log")"
  grep -E "Failed|\*\*\*" "$work/ctest.log" | head -20
fi

# compute-sanitizer over each GPU test executable (label gpu), by the command CTest would run.
gpu_tests=$(ctest --test-dir "$build" -L gpu -R "${GPU_CHECK_MEMCHECK:-$only}" --show-only=json-v1 2>/dev/null |
  python3 -c 'import json,sys; [print(t["command"][0]) for t in json.load(sys.stdin)["tests"] if t.get("command")]')
for exe in $gpu_tests; do
  name=$(basename "$exe")
  # API errors are not reported: the tests provoke some on purpose to check the error paths.
  if compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 1 --print-limit 20 "$exe" \
       > "$work/sanitizer-$name.log" 2>&1; then
    note "memcheck $name" "$(grep -E 'ERROR SUMMARY' "$work/sanitizer-$name.log" | tail -1)"
  else
    note "memcheck $name" "FAILED $(grep -E 'ERROR SUMMARY' "$work/sanitizer-$name.log" | tail -1)"
  fi
done

quick=--quick
[[ -n ${GPU_CHECK_FULL:-} ]] && quick=
for exe in $(find "$build" -name '*_bench' -type f -perm -u+x | sort); do
  name=$(basename "$exe")
  [[ $name =~ $only ]] || continue
  # shellcheck disable=SC2086
  if "$exe" $quick ${GPU_CHECK_BENCH_ARGS:-} --json "$work/$name.json" > "$work/$name.log" 2>&1; then
    note "bench $name" ok
  else
    note "bench $name" FAILED
  fi
  tail -n 30 "$work/$name.log"
done

summary=$(printf '%s\n' "${status[@]}")
echo "$summary" > "$work/summary.txt"
tar -czf "$out/gpu_check_logs.tar.gz" -C "$work" .
echo "================ gpu_check summary ($(head -2 "$work/nvidia-smi.txt" | tail -1))"
echo "$summary"
rm -rf "$work"
! grep -q FAILED <<<"$summary"
