#!/usr/bin/env bash
# The GPU checks of one session with a lent GPU machine, in one call of the `device` tool.
#
#   here:  bash bench/gpu_session.sh prepare
#          copies what the checks need from ../shared (FOMM_SHARED) into .device/ (ignored by
#          git) with the one wheel fomm needs beyond the GPU image (imageio-ffmpeg, 30 MB)
#   there: bash bench/gpu_session.sh run [bench/engine_gpu.py options]     (carry .device)
#          runs the CUDA tests, bench/resize.py and bench/engine_gpu.py (about 8 minutes on
#          an H100), each log also written to $OUT (or .device/logs); PYTHON picks the
#          interpreter (default python3, the GPU image's, which holds PyTorch)
set -euo pipefail
cd "$(dirname "$0")/.."

prepare() {
    local shared=${FOMM_SHARED:-../shared}
    local kit=conformance/public
    rm -rf .device
    mkdir -p .device/shared/spec/keys ".device/shared/$kit/animation-vox-256" .device/whl
    cp "$shared/spec/keys/vox-256.txt" .device/shared/spec/keys/
    cp "$shared/conformance/make_checkpoint.py" .device/shared/conformance/
    cp "$shared/$kit/animation-vox-256/config.yaml" ".device/shared/$kit/animation-vox-256/"
    cp -r "$shared/$kit/modules-tiny" "$shared/$kit/resize-demo" ".device/shared/$kit/"
    # the GPU image runs Python 3.12; imageio-ffmpeg 0.6.0 is its last wheel under 64 MB
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux2014_x86_64 -d .device/whl imageio-ffmpeg==0.6.0
    du -sh .device
}

run_checks() {
    local logs=${OUT:-.device/logs} python=${PYTHON:-python3}
    mkdir -p "$logs"
    "$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/fomm-site .device/whl/*.whl
    export PYTHONPATH="$PWD/src:/tmp/fomm-site" PYTHONUNBUFFERED=1 FOMM_SHARED="$PWD/.device/shared"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    "$python" -m pytest -m gpu -q -p no:cacheprovider tests/engine tests/model tests/media 2>&1 |
        tee "$logs/gpu-tests.log" || true
    "$python" bench/resize.py 2>&1 | tee "$logs/resize.log" || true
    "$python" bench/engine_gpu.py "$@" 2>&1 | tee "$logs/engine-gpu.log"
}

case "${1:-}" in
prepare) prepare ;;
run) shift && run_checks "$@" ;;
*)
    echo "usage: bash bench/gpu_session.sh prepare | run [bench/engine_gpu.py options]" >&2
    exit 2
    ;;
esac
