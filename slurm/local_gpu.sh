#!/usr/bin/env bash
# Runs one srun task on the GPU that matches its rank on the node: the command gets
# `--device $SLURM_LOCALID` appended. With --gpus-per-node=N every task of a node sees all N GPUs,
# so task i of each node drives GPU i (the layout context parallelism assumes: GPU i of every
# node joins the same ring).
#
#   srun slurm/local_gpu.sh build/release/<paper>/<paper>_bench --json results/x.json
set -euo pipefail
exec "$@" --device "${SLURM_LOCALID:?local_gpu.sh must run as an srun task (SLURM_LOCALID unset)}"
