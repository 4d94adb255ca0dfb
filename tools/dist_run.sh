#!/usr/bin/env bash
# Usage: tools/dist_run.sh SCRIPT NPROC [SCRIPT's arguments]
# Runs tools/SCRIPT in NPROC processes per node with torch.distributed.run;
# tools/dist_train.sh and tools/dist_test.sh call it. NNODES, NODE_RANK,
# PORT and MASTER_ADDR set a multi-node run. PYTHON picks the interpreter;
# by default the repository's .venv, else python3.
SCRIPT=$1
NPROC=$2
# torch.distributed.run also takes auto, gpu and cpu (one process each)
if ! [[ $NPROC =~ ^([1-9][0-9]*|auto|gpu|cpu)$ ]]; then
    echo "GPUS must be an int >= 1 (or auto), got '$NPROC' (usage:" \
        "tools/dist_train.sh CONFIG GPUS [options], tools/dist_test.sh" \
        "CONFIG CHECKPOINT GPUS [options])" >&2
    exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${PYTHON:-} ]]; then
    PYTHON=$ROOT/.venv/bin/python
    [[ -x $PYTHON ]] || PYTHON=python3
fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$ROOT/tools/$SCRIPT" \
    "${@:3}"
