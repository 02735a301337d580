#!/usr/bin/env bash
# Quick-start command 2: run every paper's benchmark at its default settings and write
# results/REPORT.md (one section per benchmark, the headline beside the paper's claim).
#
# With a GPU the benchmarks measure kernels; without one each runs its CPU parts (simulators,
# cost models) and says which GPU cases it skipped. Builds first if command 1 has not.
#   scripts/run_main_job.sh [extra args for every benchmark, e.g. --quick]
#   LLMI_BUILD_DIR=path scripts/run_main_job.sh   # use an already built tree, build nothing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
preset=${LLMI_PRESET:-release}
build=${LLMI_BUILD_DIR:-build/$preset}
export NCCL_NVLS_ENABLE=0  # never NVLink multicast: it can take a shared host down
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH=/usr/local/cuda/bin:$PATH

if [[ -z ${LLMI_BUILD_DIR:-} ]]; then
  if [[ ! -f $build/build.ninja ]]; then cmake --preset "$preset"; fi
  cmake --build --preset "$preset" -j "$(nproc)"
fi

mkdir -p results
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
failed=()
jsons=()
for exe in $(find "$build" -name '*_bench' -type f -perm -u+x | sort); do
  name=$(basename "$exe" _bench)
  launch=("$exe")
  # Context parallelism needs one process per GPU: launch with MPI when there are several.
  if [[ $name == context_parallel && $ngpu -ge 2 ]] && command -v mpirun >/dev/null; then
    launch=(mpirun -np "$ngpu" --allow-run-as-root -x NCCL_NVLS_ENABLE "$exe")
  fi
  echo "=== $name: ${launch[*]} $* --json results/$name.json"
  rm -f "results/$name.json"
  if "${launch[@]}" "$@" --json "results/$name.json"; then
    if [[ -f results/$name.json ]]; then jsons+=("results/$name.json"); fi
  else
    failed+=("$name")
  fi
done

if ((${#jsons[@]})); then
  "$build/common/tools/llmi_report" "${jsons[@]}" -o results/REPORT.md
fi
if ((${#failed[@]})); then
  echo "run_main_job: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run_main_job: results/REPORT.md written (${#jsons[@]} benchmarks)"
