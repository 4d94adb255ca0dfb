#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py options]
# NNODES, NODE_RANK, PORT, MASTER_ADDR and PYTHON: see tools/dist_run.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/dist_run.sh" train.py "$2" "$1" \
    --launcher pytorch "${@:3}"
