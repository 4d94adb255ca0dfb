#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# NNODES, NODE_RANK, PORT, MASTER_ADDR and PYTHON: see tools/dist_run.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/dist_run.sh" test.py "$3" "$1" "$2" \
    --launcher pytorch "${@:4}"
