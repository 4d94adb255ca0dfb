#!/usr/bin/env bash
# Usage: tools/slurm_run.sh SCRIPT PARTITION JOB_NAME [SCRIPT's arguments]
# Runs tools/SCRIPT with --launcher slurm as GPUS tasks under srun;
# tools/slurm_train.sh and tools/slurm_test.sh call it. GPUS (default 8),
# GPUS_PER_NODE (8), CPUS_PER_TASK (5) and SRUN_ARGS (extra srun options,
# split at spaces) shape the job; PYTHON picks the interpreter as in
# tools/dist_run.sh. SLURM_DRY_RUN=1 prints the srun command, one argument
# per line, instead of running it.
SCRIPT=$1
PARTITION=$2
JOB_NAME=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
read -r -a EXTRA_SRUN_ARGS <<< "${SRUN_ARGS:-}"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${PYTHON:-} ]]; then
    PYTHON=$ROOT/.venv/bin/python
    [[ -x $PYTHON ]] || PYTHON=python3
fi

COMMAND=(srun -p "$PARTITION" --job-name="$JOB_NAME"
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS"
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK"
    --kill-on-bad-exit=1 "${EXTRA_SRUN_ARGS[@]}"
    "$PYTHON" -u "$ROOT/tools/$SCRIPT" "${@:4}" --launcher slurm)
if [[ ${SLURM_DRY_RUN:-0} == 1 ]]; then
    printf '%s\n' "${COMMAND[@]}"
    exit 0
fi
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "${COMMAND[@]}"
