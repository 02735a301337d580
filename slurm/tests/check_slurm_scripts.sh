#!/usr/bin/env bash
# Checks every *.slurm job script of the repository, first on its own, then against a real Slurm
# (munged + slurmctld + two slurmd from the distribution's packages) started on loopback in a
# temporary directory for the length of this test.
#
#   slurm/tests/check_slurm_scripts.sh BUILD_DIR        # CTest: slurm_scripts, label slurm
#
# Per script:
#   1. bash -n and shellcheck;
#   2. the repo's rules: strict mode, slurm/env.sh + llmi_setup (guarded module loads), output in
#      logs/%x-%j.out, a --time, srun launches, GPUs chosen by SLURM_LOCALID (slurm/local_gpu.sh),
#      --gres=gpu never mixed with --gpus*, an MPI world-size check in multi-task jobs;
#   3. a dry run (DRY_RUN=1) whose printed commands are checked against BUILD_DIR: each launched
#      binary is built there and is one of the targets the script builds, the benchmark's own
#      parser accepts its arguments, and it writes results/<job name>-<job id>.json;
#   4. `sbatch --test-only` on a cluster posing as two nodes of 8 H100s and 64 cores each;
#   5. a real sbatch of the script in dry-run mode, run by slurmd from its spool copy.
# slurm/submit_all.sh must list every script. Negative controls prove the checker can fail:
# broken variants of slurm/ceilings.slurm must be rejected (arguments the benchmark refuses, more
# GPUs or nodes than exist, mixed GPU requests, a malformed --time).
#
# Exit status: 0 all passed; 1 a check failed; 77 (CTest "skipped") when munge, Slurm or
# ShellCheck is missing, or we are not root, after every check that does not need them ran.
# The daemons are stopped by PID and the temporary directory removed on every exit path; each
# daemon also runs under `timeout`, so none outlives the test even if this script is killed.
set -euo pipefail

readonly SKIP=77
readonly FAKE_JOB_ID=4242          # the job id the dry runs see: results must be named by it
readonly DAEMON_LIFETIME_S=200     # hard cap on the life of every daemon (CTest TIMEOUT is 300)
export PATH=$PATH:/usr/sbin:/sbin  # munged, slurmctld and slurmd live in sbin

[[ $# -eq 1 && -d $1 ]] || { echo "usage: $0 BUILD_DIR (a configured and built tree)" >&2; exit 2; }
build_dir=$(realpath "$1")
self=$(realpath "${BASH_SOURCE[0]}")
root=$(realpath "$(dirname "$self")/../..")
cd "$root"
# Nothing from a surrounding Slurm job (CI itself may run under one) may leak into the checks.
while read -r var; do unset "$var"; done < <(compgen -v | grep -E '^(SLURM|SBATCH|SRUN|SALLOC)_' || true)

failures=0
skip_reasons=()
fail() { echo "  FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "  ok: $*"; }
indent() { sed "s/^/      ${1:-}/"; }

# Everything this test writes (negative-control scripts, the cluster's files) lives here.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmi-slurm.XXXXXX")
pids=()  # the daemons started below
# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
  local pid i
  # Cancel leftover jobs, only ever on our own cluster (never on a real one CI may run inside).
  if ((${#pids[@]})) && [[ ${SLURM_CONF:-} == "$tmp"/* ]]; then
    timeout 5 scancel --quiet --user="$(id -un)" 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---------------------------------------------------------------------------------------------
# The scripts: tracked and untracked (not ignored) ones, or every one on disk outside a git tree.
# ---------------------------------------------------------------------------------------------
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t scripts < <(git -C "$root" ls-files --cached --others --exclude-standard '*.slurm' | sort -u)
else
  mapfile -t scripts < <(find . -name '*.slurm' -not -path '*/build/*' -printf '%P\n' | sort)
fi
echo "== ${#scripts[@]} job scripts: ${scripts[*]}"
((${#scripts[@]} > 0)) || { echo "FAIL: no *.slurm found under $root"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Static rules. Prints one line per problem (nothing when the script follows them all).
# ---------------------------------------------------------------------------------------------
directive() { grep -E "^#SBATCH[[:space:]]+--$2([=[:space:]]|$)" "$1" || true; }
directive_value() { directive "$1" "$2" | tail -n 1 | sed -E "s/^#SBATCH[[:space:]]+--$2[=[:space:]]*//"; }

is_multi_task() {  # more than one task: several nodes or several tasks per node
  local nodes tasks per_node
  nodes=$(directive_value "$1" nodes) tasks=$(directive_value "$1" ntasks)
  per_node=$(directive_value "$1" ntasks-per-node)
  [[ ${nodes:-1} != 1 || ${tasks:-1} != 1 || ${per_node:-1} != 1 ]]
}

lint_problems() {
  local f=$1
  head -n 1 "$f" | grep -qE '^#!.*bash' || echo "first line is not a bash shebang"
  grep -qx 'set -euo pipefail' "$f" || echo "no 'set -euo pipefail' line"
  grep -qE '^source .*/slurm/env\.sh"?$' "$f" || echo "does not source slurm/env.sh"
  grep -qx 'llmi_setup' "$f" || echo "does not call llmi_setup (module loads, NCCL/OpenMP settings)"
  [[ -n $(directive "$f" job-name) ]] || echo "no #SBATCH --job-name"
  [[ -n $(directive "$f" time) ]] || echo "no #SBATCH --time"
  [[ $(directive_value "$f" output) == 'logs/%x-%j.out' ]] || echo "output is not logs/%x-%j.out"
  grep -qE '^llmi_run srun ' "$f" || echo "does not launch with 'llmi_run srun'"
  grep -qE '^[[:space:]]*module[[:space:]]' "$f" &&
    echo "calls 'module' directly: set LLMI_MODULES, llmi_setup loads them guarded"
  grep -qE -- '--device' "$f" && echo "passes --device: slurm/local_gpu.sh maps SLURM_LOCALID to it"
  # Slurm 22.05 silently merges some of these mixes and rejects others; never write one.
  if grep -qE '^#SBATCH[[:space:]]+--gres[=[:space:]]([^[:space:]]*,)?gpu' "$f" &&
     grep -qE '^#SBATCH[[:space:]]+--gpus(-per-[a-z]+)?[=[:space:]]' "$f"; then
    echo "mixes --gres=gpu with --gpus/--gpus-per-*"
  fi
  if is_multi_task "$f"; then
    grep -q 'llmi_mpi_world_check' "$f" || echo "multi-task job without llmi_mpi_world_check"
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# Dry run: what the script would execute, checked against the build tree.
# ---------------------------------------------------------------------------------------------
# check_dry_run SCRIPT [VAR=VALUE...]: the extra variables go into the script's environment.
check_dry_run() {
  local f=$1 out line job_name targets=() launches=0 saw_world_check=0
  shift
  job_name=$(directive_value "$f" job-name)
  if ! out=$(env -i PATH="$PATH" HOME="${HOME:-/root}" DRY_RUN=1 SLURM_JOB_ID=$FAKE_JOB_ID \
                  LLMI_BUILD_DIR="$build_dir" "$@" timeout 30 bash "$f" 2>&1); then
    fail "DRY_RUN=1 bash $f failed:"; indent <<<"$out"; return
  fi
  sed -n 's/^+ /      would run: /p' <<<"$out"
  while IFS= read -r line; do
    local words=()
    eval "words=(${line#+ })"  # llmi_run prints each command with printf %q
    if [[ ${words[0]} == cmake && ${words[1]} == --build ]]; then
      local i
      for ((i = 2; i < ${#words[@]}; i++)); do
        [[ ${words[i]} == --target ]] && targets=("${words[@]:i+1}")
      done
    elif [[ ${words[0]} == srun ]]; then
      local k=1 mapped=0 bin args
      while [[ ${words[k]:-} == -* ]]; do k=$((k + 1)); done
      if [[ ${words[k]:-} == slurm/local_gpu.sh ]]; then mapped=1 k=$((k + 1)); fi
      bin=${words[k]:-} args=("${words[@]:k+1}")
      check_launch "$f" "$job_name" "$bin" "$mapped" "${targets[*]}" "$saw_world_check" "${args[@]}"
      [[ $(basename "$bin") == llmi_mpi_world_check ]] && saw_world_check=1
      launches=$((launches + 1))
    fi
  done < <(grep '^+ ' <<<"$out")
  ((launches > 0)) || fail "$f: the dry run printed no srun launch"
}

# check_launch SCRIPT JOB_NAME BINARY MAPPED "TARGETS" SAW_WORLD_CHECK ARGS...
check_launch() {
  local f=$1 job_name=$2 bin=$3 mapped=$4 built=" $5 " saw_world_check=$6 before=$failures
  shift 6
  local name help word opt
  name=$(basename "$bin")
  if [[ ! -x $bin || $bin != "$build_dir"/* ]]; then
    fail "$f launches $bin, which is not built in $build_dir (is '$name' a CMake target?)"
    return
  fi
  [[ $built == *" $name "* ]] || fail "$f launches $name but builds only:$built"
  [[ $name == llmi_mpi_world_check ]] && { pass "$f checks the MPI world size with $name"; return; }

  ((mapped)) || fail "$f launches $name without slurm/local_gpu.sh (GPU by SLURM_LOCALID)"
  if is_multi_task "$f" && ((!saw_world_check)); then
    fail "$f starts $name before checking the MPI world size"
  fi
  local expected_json="results/$job_name-$FAKE_JOB_ID.json" json=""
  local a=("$@") i
  for ((i = 0; i < ${#a[@]}; i++)); do [[ ${a[i]} == --json ]] && json=${a[i + 1]:-}; done
  [[ $json == "$expected_json" ]] || fail "$f: $name writes '${json:-no --json}', not $expected_json"

  # The benchmark's own parser: CLI11 validates values (ranges, types) even with --help, but
  # lets unknown options through, so every option name is also looked up in the help text.
  if ! help=$(timeout 30 "$bin" "$@" --device 0 --help 2>&1); then
    fail "$f: '$name $* --device 0 --help' is rejected by $name:"; indent <<<"$help"
    return
  fi
  for word in "$@"; do
    [[ $word == --* ]] || continue
    opt=${word%%=*}
    grep -qE -- "(^|[^[:alnum:]-])$opt([^[:alnum:]-]|$)" <<<"$help" ||
      fail "$f: $name has no option $opt (see $name --help)"
  done
  if ((failures == before)); then
    pass "$f: $name built, its arguments parse, results in $expected_json"
  fi
}

# ---------------------------------------------------------------------------------------------
# 1-3: everything that needs no Slurm.
# ---------------------------------------------------------------------------------------------
# ShellCheck starts slowly: one run over every script, the shared ones and this checker.
echo "== shellcheck"
if ! command -v shellcheck >/dev/null; then
  skip_reasons+=("shellcheck is not installed (apt-get install shellcheck)")
elif shellcheck -x "${scripts[@]}" slurm/env.sh slurm/local_gpu.sh slurm/submit_all.sh "$self"; then
  pass "shellcheck -x: every job script, slurm/env.sh, local_gpu.sh, submit_all.sh, this checker"
else
  fail "shellcheck (its findings are above)"
fi
for f in "${scripts[@]}"; do
  echo "== $f"
  if bash -n "$f"; then pass "bash -n"; else fail "bash -n $f"; fi
  problems=$(lint_problems "$f")
  if [[ -z $problems ]]; then pass "repo rules"; else while read -r p; do fail "$f: $p"; done <<<"$problems"; fi
  check_dry_run "$f"
done

# The dry-run checks must be able to fail too: slurm/ceilings.slurm launching its benchmark with
# arguments the benchmark's parser refuses. (The copy lives outside the repo, so it is pointed
# at the repo the way sbatch does it, through SLURM_SUBMIT_DIR.)
negative_dry_run() {
  local what=$1 extra=$2 bad="$tmp/bad-dry-run.slurm" out
  sed "s|--json \"\$(llmi_result_path ceilings)\"|$extra &|" slurm/ceilings.slurm >"$bad"
  echo "== must be rejected ($what): ceilings_bench $extra"
  out=$(check_dry_run "$bad" SLURM_SUBMIT_DIR="$root")
  if grep -q 'FAIL:' <<<"$out"; then
    pass "rejected by the dry-run check:"; grep -A1 'FAIL:' <<<"$out" | indent
  else
    fail "the dry-run check accepted $what"
  fi
}
negative_dry_run "an option the benchmark does not have" "--no-such-option"
negative_dry_run "a value the benchmark's parser refuses" "--iters 0"

echo "== DRY_RUN=1 slurm/submit_all.sh --chain"
if submitted=$(DRY_RUN=1 timeout 30 bash slurm/submit_all.sh --chain 2>&1); then
  indent <<<"$submitted"
  missed=0
  for f in "${scripts[@]}"; do
    grep -qE "^\+ sbatch .* $f\$" <<<"$submitted" || { fail "submit_all.sh does not submit $f"; missed=1; }
  done
  ((missed)) || pass "submit_all.sh submits all ${#scripts[@]} scripts"
else
  fail "DRY_RUN=1 slurm/submit_all.sh failed:"; indent <<<"$submitted"
fi

# ---------------------------------------------------------------------------------------------
# 4: a real controller. Skipped (not failed) when it cannot be started here.
# ---------------------------------------------------------------------------------------------
missing=()
for tool in munged slurmctld slurmd sbatch scontrol sinfo squeue scancel; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
finish() {
  echo "== summary: ${#scripts[@]} scripts, $failures failure(s)"
  ((failures == 0)) || exit 1
  if ((${#skip_reasons[@]})); then
    printf 'SKIP: %s\n' "${skip_reasons[@]}"
    exit $SKIP
  fi
  exit 0
}
if ((${#missing[@]})); then
  skip_reasons+=("not installed: ${missing[*]} (apt-get install munge slurmctld slurmd slurm-client)")
  finish
fi
if [[ $(id -u) != 0 ]]; then
  skip_reasons+=("slurmd must run as root to start a local cluster (CI runs as root)")
  finish
fi


# A free TCP port on loopback: nothing answers a connection to it.
free_port() {
  local port
  for _ in {1..50}; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  echo "no free port found on 127.0.0.1" >&2
  return 1
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s, fails after SECONDS.
wait_for() {
  local seconds=$1 what=$2 i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "  FAIL: $what not ready after ${seconds}s; daemon logs:"
  tail -n 15 "$tmp"/log/* | indent
  exit 1
}
# start NAME COMMAND...: a foreground daemon in the background, capped at DAEMON_LIFETIME_S.
start() {
  local name=$1
  shift
  timeout --kill-after=5 "$DAEMON_LIFETIME_S" "$@" >"$tmp/log/$name.out" 2>&1 &
  pids+=($!)
}

mkdir -p "$tmp"/{dev,state,spool,log}
chmod 755 "$tmp"  # munged wants the directory of its socket searchable by all
for i in {0..7}; do : >"$tmp/dev/nvidia$i"; done  # stand-ins for /dev/nvidia0..7
head -c 1024 /dev/urandom >"$tmp/munge.key" && chmod 400 "$tmp/munge.key"
ctld_port=$(free_port) n1_port=$(free_port) n2_port=$(free_port)
node="CPUs=64 Sockets=2 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=512000 Gres=gpu:h100:8"
cat >"$tmp/slurm.conf" <<EOF
# Throw-away cluster of check_slurm_scripts.sh: two nodes posing as 8 x H100 and 64 cores each
# (config_overrides: slurmd reports this, not the machine), each its own slurmd on loopback.
ClusterName=llmi-check
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd-%n.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd-%n.log
PlugStackConfig=$tmp/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
SlurmdParameters=config_overrides
SlurmdTimeout=600
ReturnToService=2
NodeName=llmi-n1 NodeAddr=127.0.0.1 Port=$n1_port $node
NodeName=llmi-n2 NodeAddr=127.0.0.1 Port=$n2_port $node
PartitionName=gpu Nodes=llmi-n[1-2] Default=YES MaxTime=INFINITE State=UP
EOF
echo "NodeName=llmi-n[1-2] Name=gpu Type=h100 File=$tmp/dev/nvidia[0-7]" >"$tmp/gres.conf"
: >"$tmp/plugstack.conf"
export SLURM_CONF=$tmp/slurm.conf

echo "== Slurm on loopback in $tmp (slurmctld :$ctld_port, slurmd :$n1_port and :$n2_port)"
start munged munged --foreground --force --socket="$tmp/munge.socket" --key-file="$tmp/munge.key" \
  --pid-file="$tmp/munged.pid" --seed-file="$tmp/munge.seed" --log-file="$tmp/log/munged.log"
wait_for 10 munged test -S "$tmp/munge.socket"
start slurmctld slurmctld -D -f "$SLURM_CONF"
wait_for 30 slurmctld bash -c 'timeout 5 scontrol ping | grep -q UP'
start slurmd-n1 slurmd -D -f "$SLURM_CONF" -N llmi-n1
start slurmd-n2 slurmd -D -f "$SLURM_CONF" -N llmi-n2
# shellcheck disable=SC2016  # expanded by the inner bash
wait_for 30 "nodes llmi-n[1-2]" bash -c '[[ $(timeout 5 sinfo -h -N -t idle -o %N | sort -u | wc -l) == 2 ]]'
pass "partition $(sinfo -h -o '%P: %D nodes idle, %c CPUs and %G each')"

# sbatch_test FILE: prints sbatch's answer; succeeds when the job could be scheduled.
sbatch_test() {
  local out rc=0
  out=$(timeout 20 sbatch --test-only "$1" 2>&1) || rc=$?
  indent <<<"$out"
  [[ $rc == 0 ]] && grep -q 'to start at' <<<"$out"
}
for f in "${scripts[@]}"; do
  echo "== sbatch --test-only $f"
  if sbatch_test "$f"; then pass "accepted"; else fail "sbatch --test-only rejects $f"; fi
done

# ---------------------------------------------------------------------------------------------
# 5: each job run for real by slurmd in dry-run mode: the script works from sbatch's spool copy
# (finding the repo through SLURM_SUBMIT_DIR) and names its results by the real job id.
# ---------------------------------------------------------------------------------------------
# DRY_RUN and LLMI_BUILD_DIR reach the job through sbatch's default --export=ALL (naming them in
# --export would make slurmd load root's login environment first, seconds per job). Multi-node
# jobs are queued last, so the one-node jobs share the two nodes first instead of waiting.
mapfile -t by_nodes < <(for f in "${scripts[@]}"; do echo "$(directive_value "$f" nodes) $f"; done |
                        sort -n -s -k1,1 | cut -d' ' -f2)
declare -A job_of=()
for f in "${by_nodes[@]}"; do
  job_of[$f]=$(env -i PATH="$PATH" HOME="${HOME:-/root}" SLURM_CONF="$SLURM_CONF" DRY_RUN=1 \
    LLMI_BUILD_DIR="$build_dir" timeout 20 sbatch --parsable --output="$tmp/%j.out" "$f")
done
ids=$(IFS=,; echo "${job_of[*]}")
# shellcheck disable=SC2016  # expanded by the inner bash
wait_for 60 "dry-run jobs $ids" bash -c '[[ -z $(timeout 5 squeue -h -t PD,CF,R -j "$0" -o %i) ]]' "$ids"
for f in "${by_nodes[@]}"; do
  id=${job_of[$f]} name=$(directive_value "$f" job-name)
  echo "== job $id: DRY_RUN=1 sbatch $f"
  grep -E '^(llmi: job|\+ srun)' "$tmp/$id.out" | indent
  info=$(timeout 5 scontrol -o show job "$id")
  state=$(grep -oE ' JobState=[^ ]+' <<<"$info" | cut -d= -f2)
  code=$(grep -oE ' ExitCode=[^ ]+' <<<"$info" | cut -d= -f2)
  if [[ $state =~ ^COMPLET && $code == 0:0 ]]; then
    pass "$state, exit $code"
  else
    fail "job $id ($f) ended $state, exit $code:"; indent <"$tmp/$id.out"
  fi
  grep -q -- "--json results/$name-$id.json" "$tmp/$id.out" || fail "$f does not write results/$name-$id.json"
done

# ---------------------------------------------------------------------------------------------
# Negative controls: slurm/ceilings.slurm with one bad directive appended after its own (the last
# occurrence of an option wins). Each must be rejected by the named part of this checker.
# ---------------------------------------------------------------------------------------------
negative() {
  local what=$1 by=$2 line=$3 bad="$tmp/bad.slurm"
  awk -v extra="$line" 'BEGIN {n=0} {lines[++n]=$0; if ($0 ~ /^#SBATCH/) last=n}
    END {for (i = 1; i <= n; i++) {print lines[i]; if (i == last) print extra}}' \
    slurm/ceilings.slurm >"$bad"
  echo "== must be rejected ($what): ${line//\\n/ }"
  local problems
  problems=$(lint_problems "$bad")
  [[ -z $problems ]] || indent "rule: " <<<"$problems"
  if [[ $by == sbatch ]]; then
    if sbatch_test "$bad"; then fail "sbatch accepted $what"; else pass "rejected by sbatch"; fi
  else
    sbatch_test "$bad" || true
    if [[ -n $problems ]]; then pass "rejected by the repo rules"; else fail "repo rules accepted $what"; fi
  fi
}
negative "more GPUs than a node has" sbatch '#SBATCH --gpus-per-node=9'
negative "more nodes than the cluster has" sbatch '#SBATCH --nodes=3\n#SBATCH --ntasks=3'
negative "typed --gres mixed with --gpus-per-node" sbatch '#SBATCH --gres=gpu:h100:1'
negative "untyped --gres mixed with --gpus-per-node (Slurm 22.05 merges it)" rules '#SBATCH --gres=gpu:1'
negative "malformed --time" sbatch '#SBATCH --time=2h'
finish
