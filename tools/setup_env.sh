#!/usr/bin/env bash
# Create .venv at the repo root and install the pinned OpenMMLab stack into it:
# torch 2.14.1 + torchvision 0.29.1, mmengine, mmpretrain, mmdet,
# mmsegmentation, mmcv 2.1.0 built from its source distribution, and this
# package (editable).
#
#   tools/setup_env.sh            mmcv without compiled operators (PyPI's
#                                 pure-Python mmcv-lite wheel) unless the full
#                                 build is already installed: pretraining, the
#                                 demo, classification and the figure tools
#   tools/setup_env.sh --full     mmcv with its CPU operators (10-25 minutes on
#                                 2 cores, once per torch version): mmdet and
#                                 mmseg models need them
#   tools/setup_env.sh --tests    --full plus the test-only dependencies
#
# Safe to rerun: finished steps are skipped. Built mmcv wheels are kept under
# ${XDG_CACHE_HOME:-~/.cache}/mae_plugin/wheels/torch-<version>/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# One set-up at a time (`make demo` and `make test` in two shells, or
# make -j2, would install into the same .venv at once).
if command -v flock >/dev/null; then
    exec 9<"$ROOT/tools/setup_env.sh"
    flock 9
fi

MMCV=lite
WITH_TESTS=0
for arg in "$@"; do
    case $arg in
        --full) MMCV=full ;;
        --tests) MMCV=full; WITH_TESTS=1 ;;
        *) echo "tools/setup_env.sh: unknown argument '$arg' (use --full or --tests)" >&2
           exit 2 ;;
    esac
done

VENV=$ROOT/.venv
PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check -q)
MMCV_VERSION=2.1.0
WHEEL_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mae_plugin/wheels
BUILD_LOG=$VENV/mmcv-build.log

# Every step is printed with the time since the script started.
say() { printf '[setup %d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# A venv interrupted while it was made has a python but no pip: made again.
if [[ ! -x $PY ]] || ! "$PY" -m pip --version >/dev/null 2>&1; then
    BASE_PY=$(command -v python3.11 || command -v python3) || {
        echo "[setup] Python 3.11 is needed: no python3.11 or python3 on PATH" >&2
        exit 1
    }
    "$BASE_PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), \
        f"Python 3.11 is needed for the pinned torch files, found {sys.version}"'
    say "creating $VENV with $BASE_PY"
    "$BASE_PY" -m venv --clear "$VENV" || {
        echo "[setup] could not create $VENV (Debian: apt-get install" \
            "python3.11-venv)" >&2
        exit 1
    }
fi

# One stamp per finished (requirements, mmcv flavour, tests) combination; the
# full build and the test dependencies also satisfy the lighter requests.
stamp() {
    sha1sum requirements/*.txt setup.cfg tools/setup_env.sh | sha1sum | cut -c1-12
}
STAMP_PREFIX=$VENV/.mae_plugin-$(stamp)
if [[ -f $STAMP_PREFIX-full-tests1 ]] \
        || [[ $WITH_TESTS == 0 && -f $STAMP_PREFIX-full-tests0 ]] \
        || [[ $MMCV == lite && $WITH_TESTS == 0 && -f $STAMP_PREFIX-lite-tests0 ]]; then
    exit 0
fi

# Fashion-MNIST for the study of docs/fashion_mnist_study.md: Debian's
# package, where apt-get exists and we are root; never fatal (see README).
if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]] \
        && [[ ! -d /usr/share/datasets/fashion-mnist ]]; then
    say "Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    install_fmnist() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            dataset-fashion-mnist >/dev/null 2>&1
    }
    # a fresh machine may have no package lists yet
    install_fmnist || { apt-get update -q >/dev/null && install_fmnist; } \
        || say "dataset-fashion-mnist unavailable; see README"
fi

say "torch"
"${PIP[@]}" install -r requirements/build.txt
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')

# Before mmcv, so that pip never sees an mmcv without its mmengine.
say "OpenMMLab stack (mmengine, mmpretrain, mmdet, mmsegmentation)"
"${PIP[@]}" install -r requirements/runtime.txt addict packaging pillow pyyaml yapf

installed_mmcv() {  # prints "full", "lite" or nothing
    "$PY" - "$MMCV_VERSION" <<'EOF' 2>/dev/null || true
import sys
import mmcv
if mmcv.__version__ == sys.argv[1]:
    try:
        import mmcv.ops  # noqa: F401 (needs the compiled mmcv._ext)
        print('full')
    except ImportError:
        print('lite')
EOF
}

# Builds the mmcv wheel with CPU operators into $1 from the source
# distribution: its setup.py needs pkg_resources (setuptools < 70) and
# hard-codes -std=c++17, while torch >= 2.10 headers need C++20.
build_mmcv() {
    local dest=$1 build status=0 beat builder
    check_build_tools
    build=$(mktemp -d)
    trap "rm -rf '$build'" EXIT  # also when interrupted
    # The build's own setuptools, wheel and ninja live in a folder of their
    # own: the venv keeps the setuptools that torch and mmengine need (pip
    # would compare the folder's setuptools with torch's requirement and
    # print a conflict that does not exist).
    "${PIP[@]}" install --no-warn-conflicts --target "$build/tools" \
        'setuptools<70' wheel ninja
    local -x PYTHONPATH=$build/tools${PYTHONPATH:+:$PYTHONPATH}
    local -x PATH=$build/tools/bin:$PATH
    "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$build"
    tar -xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
    sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
    mkdir -p "$dest"
    say "building mmcv $MMCV_VERSION with CPU ops: 10-25 minutes on 2 cores;" \
        "full log in $BUILD_LOG"
    heartbeat 9<&- &  # its sleep must not hold the set-up lock
    beat=$!
    # The build runs in the background (bash runs a trap only once its
    # foreground command is done) in a process group of its own (setsid):
    # Ctrl-C, TERM or HUP to this script ends the build with its compilers,
    # the heartbeat and the build folder at once.
    (cd "$build/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=0 \
        MAX_JOBS=$(nproc) exec setsid "$PY" -m pip \
        --disable-pip-version-check wheel -v --no-deps --no-build-isolation \
        -w "$dest" . >"$BUILD_LOG" 2>&1) &
    builder=$!
    trap "kill -- $beat -$builder 2>/dev/null || true; \
        wait $builder || true; rm -rf '$build'" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    wait "$builder" || status=$?
    trap - EXIT INT TERM HUP
    kill "$beat" 2>/dev/null || true
    rm -rf "$build"
    if [[ $status != 0 ]]; then
        echo "[setup] the mmcv build failed (exit $status); the end of $BUILD_LOG:" >&2
        tail -n 40 "$BUILD_LOG" >&2
        echo "[setup] a compiler error above usually means a missing C++" \
            "compiler or Python headers (Debian: apt-get install g++" \
            "python3-dev); fix that and rerun the same command." >&2
        exit "$status"
    fi
}

# The compiler and Python headers the mmcv build needs, named before the
# build downloads anything.
check_build_tools() {
    local missing=()
    command -v c++ >/dev/null || missing+=("a C++ compiler (c++)")
    "$PY" -c 'import os, sys, sysconfig
sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"],
                                          "Python.h")))' \
        || missing+=("the Python headers (Python.h)")
    if [[ ${#missing[@]} -gt 0 ]]; then
        echo "[setup] building mmcv needs ${missing[*]}; Debian:" \
            "apt-get install g++ python3-dev, then rerun" >&2
        exit 1
    fi
}

# Every minute of the full build: how far ninja has got ([done/total]).
heartbeat() {
    while sleep 60; do
        local progress
        progress=$(grep -oE '^ *\[[0-9]+/[0-9]+\]' "$BUILD_LOG" 2>/dev/null \
            | tail -n 1 | tr -d ' ') || true  # no line yet
        say "mmcv build running, compiled ${progress:-[0/?]}"
    done
}

HAVE_MMCV=$(installed_mmcv)
# Both flavours install the same `mmcv` package directory: one replaces the
# other, never beside it.
if [[ $MMCV == full && $HAVE_MMCV != full ]]; then
    WHEEL_DIR=$WHEEL_CACHE/torch-$TORCH_VERSION
    if ! ls "$WHEEL_DIR/mmcv-$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        build_mmcv "$WHEEL_DIR"
    fi
    say "installing mmcv $MMCV_VERSION with CPU ops (wheel kept in $WHEEL_DIR)"
    "${PIP[@]}" uninstall -y mmcv-lite >/dev/null 2>&1 || true
    "${PIP[@]}" install --no-deps --force-reinstall "$WHEEL_DIR/mmcv-$MMCV_VERSION"-*.whl
elif [[ -z $HAVE_MMCV ]]; then
    say "installing mmcv-lite $MMCV_VERSION (no compiled operators)"
    "${PIP[@]}" uninstall -y mmcv >/dev/null 2>&1 || true
    "${PIP[@]}" install --no-deps "mmcv-lite==$MMCV_VERSION"
fi
HAVE_MMCV=$(installed_mmcv)

say "mae_plugin (editable)"
"${PIP[@]}" install --no-deps --no-build-isolation -e .

if [[ $WITH_TESTS == 1 ]]; then
    say "test dependencies"
    "${PIP[@]}" install -r requirements/tests.txt
fi

CHECK="import mmcv, mmpretrain, mmpretrain.models, mae_plugin"
[[ $HAVE_MMCV == full ]] && CHECK="$CHECK, mmcv.ops, mmdet.models, mmseg.models"
"$PY" -c "$CHECK; print('[setup] ok: mmcv', mmcv.__version__, \
'($HAVE_MMCV), mmpretrain', mmpretrain.__version__)"
rm -f "$VENV"/.mae_plugin-*
touch "$STAMP_PREFIX-$HAVE_MMCV-tests$WITH_TESTS"
say "done"
