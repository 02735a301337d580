#!/usr/bin/env bash
# Submits every benchmark job of the repository with sbatch: slurm/ceilings.slurm first (every
# figure is reported against its ceilings), then each paper's *.slurm.
#
#   slurm/submit_all.sh                          # all jobs, independent of each other
#   slurm/submit_all.sh --chain                  # one after another (--dependency=afterany)
#   slurm/submit_all.sh paged_attention/paged_attention.slurm ...   # only these
#   slurm/submit_all.sh -- --account=abc --partition=gpu            # sbatch options for every job
#   DRY_RUN=1 slurm/submit_all.sh                # print the sbatch commands, submit nothing
#
# Each job writes logs/<job name>-<job id>.out and results/<job name>-<job id>.json.
set -euo pipefail
self=$(realpath "${BASH_SOURCE[0]}")
cd "$(dirname "$self")/.."  # the job scripts expect the repository root as their submit directory

chain=0 scripts=() sbatch_args=()
while (($#)); do
  case $1 in
    --chain) chain=1 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set/d; s/^# \{0,1\}//; p}' "$self"; exit 0 ;;
    --) shift; sbatch_args=("$@"); break ;;
    -*) echo "submit_all: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) scripts+=("$1") ;;
  esac
  shift
done
if ((${#scripts[@]} == 0)); then
  mapfile -t scripts < <(
    echo slurm/ceilings.slurm
    find . -name build -prune -o -name '*.slurm' -printf '%P\n' | grep -vx slurm/ceilings.slurm | sort)
fi

dry=${DRY_RUN:-0}
[[ $dry == 1 ]] || mkdir -p logs  # Slurm does not create the directory of --output itself
previous="" n=0
for script in "${scripts[@]}"; do
  [[ -f $script ]] || { echo "submit_all: no such job script: $script" >&2; exit 1; }
  cmd=(sbatch --parsable)
  if ((chain)) && [[ -n $previous ]]; then cmd+=("--dependency=afterany:$previous"); fi
  cmd+=("${sbatch_args[@]}" "$script")
  printf -v line '%q ' "${cmd[@]}"
  echo "+ ${line% }"
  n=$((n + 1))
  if [[ $dry == 1 ]]; then
    previous="JOB$n"  # stands for the id sbatch would print
  else
    previous=$("${cmd[@]}")
    previous=${previous%%;*}  # --parsable prints "id" or "id;cluster"
    echo "  job $previous: $script"
  fi
done
if [[ $dry == 1 ]]; then
  echo "submit_all: $n job(s) (dry run: nothing submitted)"
else
  echo "submit_all: $n job(s) submitted; results land in results/*.json (see slurm/README.md)"
fi
