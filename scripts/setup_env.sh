#!/usr/bin/env bash
# Create or refresh posekit's local virtual environment in .venv (idempotent).
#
# torch is installed pinned (POSEKIT_TORCH, default "torch==2.13.0": a CPU wheel on the
# project machines). An unpinned "torch" would pull several GB of CUDA packages.
# With a GPU, choose the build yourself, for example:
#   POSEKIT_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${POSEKIT_TORCH:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.posekit-setup
want="$(cat pyproject.toml | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install --quiet $TORCH_SPEC
    .venv/bin/python -m pip install --quiet -e ".[test]"
    echo "$want" > "$stamp"
fi
