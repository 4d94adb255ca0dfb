#!/usr/bin/env bash
# Create .venv at the repo root and install the pinned OpenMMLab stack into
# it: torch 2.14.1 + torchvision 0.29.1, mmcv 2.1.0 built from source with
# CPU ops, mmengine, mmpretrain, mmdet, mmsegmentation, this package
# (editable) and, with --tests, the test-only dependencies.
# Safe to rerun: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TESTS=0
[[ "${1:-}" == "--tests" ]] && WITH_TESTS=1

VENV=.venv
PY=$VENV/bin/python
PIP="$PY -m pip --disable-pip-version-check -q"
MMCV_VERSION=2.1.0
WHEEL_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mae_plugin/wheels

if [[ ! -x $PY ]]; then
    BASE_PY=$(command -v python3.11 || command -v python3) || {
        echo "[setup] Python 3.11 is needed: no python3.11 or python3 on PATH" >&2
        exit 1
    }
    "$BASE_PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), \
        f"Python 3.11 is needed for the pinned torch files, found {sys.version}"'
    echo "[setup] creating $VENV with $BASE_PY"
    "$BASE_PY" -m venv $VENV
fi

# Fashion-MNIST for the study of docs/fashion_mnist_study.md: Debian's
# package, where apt-get exists and we are root; never fatal (see README).
if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]] \
        && [[ ! -d /usr/share/datasets/fashion-mnist ]]; then
    echo "[setup] Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    install_fmnist() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            dataset-fashion-mnist >/dev/null
    }
    # a fresh machine may have no package lists yet
    install_fmnist || { apt-get update -q >/dev/null && install_fmnist; } \
        || echo "[setup] dataset-fashion-mnist unavailable; see README"
fi

stamp() { sha1sum requirements/*.txt setup.cfg tools/setup_env.sh | sha1sum | cut -c1-12; }
STAMP=$VENV/.mae_plugin-$(stamp)-tests$WITH_TESTS
if [[ -f $STAMP || -f $VENV/.mae_plugin-$(stamp)-tests1 ]]; then
    exit 0
fi

echo "[setup] torch"
$PIP install -r requirements/build.txt
TORCH_VERSION=$($PY -c 'import torch; print(torch.__version__.split("+")[0])')

# mmcv: no wheel on PyPI for this torch. Its setup.py needs pkg_resources
# (setuptools < 70) and hard-codes -std=c++17, while torch >= 2.10 headers
# need C++20. Build once per torch version and keep the wheel.
if ! $PY -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    MMCV_WHEEL_DIR=$WHEEL_CACHE/torch-$TORCH_VERSION
    if ! ls "$MMCV_WHEEL_DIR"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
        echo "[setup] building mmcv $MMCV_VERSION with CPU ops (about 10 minutes on 2 cores)"
        BUILD=$(mktemp -d)
        $PIP install 'setuptools<70' wheel ninja
        $PIP download --no-deps --no-binary :all: --no-build-isolation \
            mmcv==$MMCV_VERSION -d "$BUILD"
        tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
        sed -i 's/-std=c++17/-std=c++20/g' "$BUILD"/mmcv-$MMCV_VERSION/setup.py
        mkdir -p "$MMCV_WHEEL_DIR"
        (cd "$BUILD"/mmcv-$MMCV_VERSION && MMCV_WITH_OPS=1 FORCE_CUDA=0 \
            MAX_JOBS=$(nproc) $PIP wheel --no-deps --no-build-isolation \
            -w "$MMCV_WHEEL_DIR" .)
        rm -rf "$BUILD"
    fi
    $PIP install --no-deps --force-reinstall "$MMCV_WHEEL_DIR"/mmcv-$MMCV_VERSION-*.whl
fi

echo "[setup] OpenMMLab stack"
# mmcv's own requirements (it was installed without dependencies).
$PIP install addict packaging pillow pyyaml yapf
$PIP install -r requirements/runtime.txt
# torch asks for setuptools >= 77 again after the mmcv build; mmengine 0.10
# resolves `mmdet::`/`mmseg::` config bases through pkg_resources, which
# setuptools 81 removed.
$PIP install 'setuptools>=77,<81'
$PIP install --no-deps --no-build-isolation -e .

if [[ $WITH_TESTS == 1 ]]; then
    echo "[setup] test dependencies"
    $PIP install -r requirements/tests.txt
fi

$PY -c "import mmcv.ops, mmdet, mmseg, mmpretrain.models, mae_plugin; \
print('[setup] ok: mmcv', mmcv.__version__, 'mmpretrain', mmpretrain.__version__)"
rm -f $VENV/.mae_plugin-*-tests*
touch "$STAMP"
