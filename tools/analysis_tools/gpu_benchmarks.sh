#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md in one run: every stage under a
# time limit of its own, its JSON results and its log in OUT_DIR, a failed or
# timed-out stage reported and the next one run.
#
#   bash tools/analysis_tools/gpu_benchmarks.sh OUT_DIR [STAGE ...]
#
# Stages (all of them by default, in this order):
#   step_b16          step alone, ViT-B/16 batch 256, bf16 autocast: the
#                     plugin, mmpretrain's MAE and Hugging Face's ViTMAE
#   step_b16_blocks   the same with every peer's blocks compiled one by one
#   step_l16          step alone, ViT-L/16 batch 128, bf16, the three peers
#   asym_l16          ViT-L/16 batch 128, 8-block decoder: the masked encoder
#                     against mask tokens in the encoder (asymmetric speedup)
#   train_b16         end to end through the runner of tools/train.py with the
#                     bf16 ViT-B ImageNet config on JPEG_DIR (NUM_JPEGS
#                     ImageNet-sized JPEGs written first if it does not
#                     exist), 15 and 8 data-loading processes, beside the
#                     same run's step; 3 iterations profiled
#   loader_b16        the same config's data loader alone (no model step),
#                     15 and 8 processes: the rate the CPU path can feed
#   train_b16_blocks  train_b16 with 15 processes and
#                     compile.regions=[TransformerBlock]
#   train_b16_graphs  train_b16_blocks with the compiled blocks replayed as
#                     CUDA graphs (compile.mode=reduce-overhead; upstream
#                     reports blocks compiled one by one that overwrite each
#                     other's outputs there: pytorch/pytorch#152887)
#   train_b16_former  train_b16 with 15 processes as the runner ran before
#                     issue 22's CPU work: batches in pageable memory copied
#                     blocking, the logged values (mmengine's RuntimeInfoHook)
#                     and the finite-loss flag read after every iteration
#   loader_b16_device the data loader alone of the device-crop config (the
#                     workers read files and draw crops), 15 and 8 processes,
#                     and its data preprocessor alone (nvJPEG decoding and
#                     resampling on the GPU)
#   train_b16_device  train_b16 with the device-crop config: the data
#                     preprocessor decodes the JPEGs with nvJPEG and resamples
#                     the crops on the GPU; 15 and 8 processes
#   decode_check      whether decoding on the GPU overwrites memory that
#                     kernels queued before it still read: torchvision's
#                     decode_jpeg as is, and the device-crop path's
#                     decode_jpegs (the stage fails if the latter does)
#   step_b16_graphs   step_b16_blocks with each compiled block replayed as
#                     CUDA graphs (compile mode reduce-overhead)
#   step_b16_sdpa_flash, step_b16_sdpa_efficient, step_b16_sdpa_cudnn
#                     step_b16 of the plugin alone with its attention kernel
#                     restricted to FlashAttention, the memory-efficient
#                     kernel or cuDNN's (the decoder's heads have 32 channels)
#
# Environment: PY (default python3) runs the tools; JPEG_DIR (default
# /tmp/mae_jpegs); NUM_JPEGS (default 8192); STEP_ARGS and TRAIN_ARGS are
# appended to every step and end-to-end command (a later option wins, e.g.
# STEP_ARGS="--device cpu --batch-size 2" to check the script on a CPU;
# docs/benchmarks.md has the whole check), DEVICE_CROP_ARGS (default
# TRAIN_ARGS) to those of the device-crop config instead, DECODE_ARGS to
# decode_check's. BUDGET (seconds, default none) limits the whole run, e.g.
# to fit the command under a machine's time limit: each stage's own limit is
# cut to what is left of it, and the stages that would get under
# MIN_STAGE_SECONDS (default 30) are skipped, so the stages named first are
# the ones measured.
set -uo pipefail
MIN_STAGE_SECONDS=${MIN_STAGE_SECONDS:-30}
if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUT_DIR [STAGE ...]" >&2
    exit 2
fi
OUT_DIR=$(mkdir -p "$1" && cd "$1" && pwd) || exit 1
shift
ALL_STAGES=(step_b16 step_b16_blocks step_l16 asym_l16 train_b16 loader_b16
    train_b16_blocks train_b16_graphs train_b16_former loader_b16_device
    train_b16_device decode_check step_b16_graphs step_b16_sdpa_flash
    step_b16_sdpa_efficient step_b16_sdpa_cudnn)
STAGES=("$@")
[[ ${#STAGES[@]} -gt 0 ]] || STAGES=("${ALL_STAGES[@]}")
for stage in "${STAGES[@]}"; do  # a misspelt stage stops the run before any
    if [[ " ${ALL_STAGES[*]} " != *" $stage "* ]]; then
        echo "unknown stage '$stage' (see the head of $0)" >&2
        exit 2
    fi
done
if [[ -n ${BUDGET:-} && ! $BUDGET =~ ^[0-9]+$ ]]; then
    echo "BUDGET must be a whole number of seconds, got '$BUDGET'" >&2
    exit 2
fi
PY=${PY:-python3}
JPEG_DIR=${JPEG_DIR:-/tmp/mae_jpegs}
NUM_JPEGS=${NUM_JPEGS:-8192}
read -r -a STEP_EXTRA <<<"${STEP_ARGS:-}"
read -r -a TRAIN_EXTRA <<<"${TRAIN_ARGS:-}"
read -r -a DEVICE_CROP_EXTRA <<<"${DEVICE_CROP_ARGS-${TRAIN_ARGS:-}}"
read -r -a DECODE_EXTRA <<<"${DECODE_ARGS:-}"
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

STEP=(tools/analysis_tools/benchmark_pretrain.py --device cuda --dtype bf16
    --rounds 3)
PEERS=(--peers mae_plugin mmpretrain hf)
B16_CONFIG=configs/mae/mae_vit-base-p16_8xb512-bf16-coslr-800e_in1k.py
B16_DEVICE_CROP=configs/mae/mae_vit-base-p16_8xb512-bf16-devicecrop-coslr-800e_in1k.py

# train NAME SECONDS EXTRA CONFIG ARGS...: run_stage with the end-to-end tool
# and CONFIG on JPEG_DIR, which the first such stage fills.
train() {
    local jpegs=()
    [[ -d $JPEG_DIR ]] || jpegs=(--make-jpegs "$NUM_JPEGS")
    run_stage "$1" "$2" "$3" tools/analysis_tools/benchmark_train.py \
        "$4" --data-root "$JPEG_DIR" "${jpegs[@]}" \
        --batch-size 256 --epochs 2 "${@:5}"
}

# run_stage NAME SECONDS EXTRA TOOL ARGS...: the tool with its arguments and
# then those in the array named EXTRA, its JSON in OUT_DIR/NAME.json, its
# output in OUT_DIR/NAME.log. The JSON of an earlier run in OUT_DIR is
# removed first: a stage that fails or times out leaves none.
run_stage() {
    local name=$1 seconds=$2 start=$SECONDS status left
    local -n extra=$3
    shift 3
    rm -f "$OUT_DIR/$name.json"
    if [[ -n ${BUDGET:-} ]]; then
        left=$((BUDGET - SECONDS))
        if ((left < MIN_STAGE_SECONDS)); then
            echo "[$name] skipped: ${left}s of BUDGET=${BUDGET}s left"
            return
        fi
        ((left < seconds)) && seconds=$left
    fi
    set -- "$@" "${extra[@]}" --json "$OUT_DIR/$name.json"
    echo "[$name] up to ${seconds}s: $PY $*"
    timeout "$seconds" "$PY" "$@" >"$OUT_DIR/$name.log" 2>&1
    status=$?
    if [[ $status == 124 ]]; then
        echo "[$name] timed out after ${seconds}s"
    elif [[ $status != 0 ]]; then
        echo "[$name] failed (exit $status); the end of its log:"
        tail -n 15 "$OUT_DIR/$name.log"
    else
        echo "[$name] done in $((SECONDS - start))s"
    fi
}

for stage in "${STAGES[@]}"; do
    case $stage in
        step_b16) run_stage "$stage" 150 STEP_EXTRA "${STEP[@]}" \
            --arch base --batch-size 256 "${PEERS[@]}" ;;
        step_b16_blocks) run_stage "$stage" 180 STEP_EXTRA "${STEP[@]}" \
            --arch base --batch-size 256 "${PEERS[@]}" --compile-blocks ;;
        step_b16_graphs) run_stage "$stage" 180 STEP_EXTRA "${STEP[@]}" \
            --arch base --batch-size 256 "${PEERS[@]}" --compile-blocks \
            --compile-mode reduce-overhead ;;
        step_b16_sdpa_*) run_stage "$stage" 90 STEP_EXTRA "${STEP[@]}" \
            --arch base --batch-size 256 --peers mae_plugin \
            --sdpa-backend "${stage#step_b16_sdpa_}" ;;
        step_l16) run_stage "$stage" 150 STEP_EXTRA "${STEP[@]}" \
            --arch large --batch-size 128 "${PEERS[@]}" ;;
        asym_l16) run_stage "$stage" 120 STEP_EXTRA "${STEP[@]}" \
            --arch large --batch-size 128 --decoder-depth 8 \
            --peers mae_plugin mask_tokens ;;
        train_b16) train "$stage" 240 TRAIN_EXTRA "$B16_CONFIG" \
            --workers 15 8 --profile 3 ;;
        loader_b16) train "$stage" 90 TRAIN_EXTRA "$B16_CONFIG" \
            --workers 15 8 --loader-only ;;
        train_b16_blocks) train "$stage" 180 TRAIN_EXTRA "$B16_CONFIG" \
            --workers 15 --cfg-options 'compile.regions=[TransformerBlock]' ;;
        train_b16_graphs) train "$stage" 180 TRAIN_EXTRA "$B16_CONFIG" \
            --workers 15 --cfg-options 'compile.regions=[TransformerBlock]' \
            compile.mode=reduce-overhead ;;
        train_b16_former) train "$stage" 120 TRAIN_EXTRA "$B16_CONFIG" \
            --workers 15 \
            --cfg-options train_dataloader.pin_memory=False \
            model.data_preprocessor.non_blocking=False \
            default_hooks.runtime_info.type=RuntimeInfoHook \
            custom_hooks.0.interval=1 ;;
        loader_b16_device) train "$stage" 60 DEVICE_CROP_EXTRA \
            "$B16_DEVICE_CROP" --workers 15 8 --loader-only ;;
        train_b16_device) train "$stage" 240 DEVICE_CROP_EXTRA \
            "$B16_DEVICE_CROP" --workers 15 8 --profile 3 ;;
        decode_check) run_stage "$stage" 60 DECODE_EXTRA \
            tools/analysis_tools/check_gpu_decode.py --num-images 16 \
            --rounds 50 ;;
    esac
done
