# shellcheck shell=bash
# The job environment every *.slurm script of this repo sources (never run on its own).
#
#   llmi_setup                 module loads, NCCL/OpenMP settings, cd to the repo root, results/
#   llmi_build TARGET...       configure with the CMake preset and build those targets
#   llmi_bench_path TARGET     the built executable of TARGET (fails clearly if not built)
#   llmi_result_path NAME      results/NAME-<job id>.json, the file the report tool collects
#   llmi_run CMD...            print CMD (quoted for the shell), then run it unless DRY_RUN=1
#
# Everything a cluster may need to change is an environment variable, read at submit time
# (sbatch exports the submitting shell's environment by default):
#   LLMI_MODULES     modules to load where `module` exists       (default: "cuda openmpi")
#   LLMI_PRESET      CMake configure preset                       (default: release)
#   LLMI_BUILD_DIR   the preset's build tree, from the repo root  (default: build/$LLMI_PRESET)
#   LLMI_SRUN_MPI    srun --mpi plugin for MPI jobs               (default: pmix)
#   DRY_RUN=1        print the build and launch commands instead of running them

# The repository root: this file lives in <root>/slurm/.
LLMI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LLMI_PRESET=${LLMI_PRESET:-release}
LLMI_BUILD_DIR=${LLMI_BUILD_DIR:-build/$LLMI_PRESET}
LLMI_SRUN_MPI=${LLMI_SRUN_MPI:-pmix}
DRY_RUN=${DRY_RUN:-0}

llmi_run() {
  local line
  printf -v line '%q ' "$@"
  echo "+ ${line% }"
  if [[ $DRY_RUN != 1 ]]; then
    "$@"
  fi
}

llmi_setup() {
  # `module` is a shell function that only clusters with Lmod/Environment Modules define.
  if command -v module >/dev/null 2>&1; then
    local m
    for m in ${LLMI_MODULES-cuda openmpi}; do
      llmi_run module load "$m"
    done
  else
    echo "llmi: no 'module' command here; using the tools already on PATH"
  fi
  # NVLink SHARP (NVLS) multicast stays off: it needs fabric-manager support that shared nodes
  # often lack, and NCCL then fails at communicator creation instead of falling back.
  export NCCL_NVLS_ENABLE=0
  export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
  export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
  # Since Slurm 22.05, srun no longer inherits --cpus-per-task from the job: pass it on, or each
  # task is bound to a single core.
  if [[ -n ${SLURM_CPUS_PER_TASK:-} ]]; then
    export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
  fi
  cd "$LLMI_ROOT" || return
  if [[ $DRY_RUN != 1 ]]; then
    mkdir -p results
  fi
  echo "llmi: job ${SLURM_JOB_ID:-(not under Slurm)} on $(hostname), ${SLURM_NNODES:-1} node(s)," \
       "${SLURM_NTASKS:-1} task(s), repo $LLMI_ROOT, DRY_RUN=$DRY_RUN"
}

llmi_build() {
  # Jobs submitted together share one build tree, so they build one at a time; the later ones
  # find it up to date. The lock is only taken for real builds (a dry run touches nothing).
  if [[ $DRY_RUN == 1 ]]; then
    _llmi_build_steps "$@"
  else
    mkdir -p "$LLMI_BUILD_DIR"
    (
      flock 9
      _llmi_build_steps "$@"
    ) 9>"$LLMI_BUILD_DIR/.llmi-build.lock"
  fi
}

_llmi_build_steps() {
  llmi_run cmake --preset "$LLMI_PRESET"
  llmi_run cmake --build "$LLMI_BUILD_DIR" -j "${SLURM_CPUS_PER_TASK:-$(nproc)}" --target "$@"
}

llmi_bench_path() {
  local target=$1 path
  path=$(find "$LLMI_BUILD_DIR" -type f -name "$target" -perm -u+x -print -quit 2>/dev/null)
  if [[ -n $path ]]; then
    echo "$path"
  elif [[ $DRY_RUN == 1 ]]; then
    # Nothing built yet: show where it will be looked for.
    echo "llmi: $target is not built in $LLMI_BUILD_DIR yet" >&2
    echo "$LLMI_BUILD_DIR/$target"
  else
    echo "llmi: $target not found in $LLMI_BUILD_DIR after the build" >&2
    return 1
  fi
}

llmi_result_path() {
  echo "results/$1-${SLURM_JOB_ID:-local}.json"
}
