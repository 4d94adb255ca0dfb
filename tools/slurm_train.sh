#!/usr/bin/env bash
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR
#            [train.py options]
# GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON and SLURM_DRY_RUN:
# see tools/slurm_run.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/slurm_run.sh" train.py "$1" "$2" \
    "$3" --work-dir "$4" "${@:5}"
