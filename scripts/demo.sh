#!/usr/bin/env bash
# Set up .venv if needed, then run the posekit demo (synthetic images -> shipped model -> AP).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/posekit demo --out "${1:-demo_out}"
