#!/bin/bash
# Train several recipes side by side on one (GPU) machine, one process per recipe, each cut off
# after JOB_LIMIT seconds; runs land in RUNS_DIR/<recipe file name>. Used for the single-person
# table's GPU rows (the CPU recipes themselves: their accuracy is the recipe's, their 2-core training
# time is not measured this way) and for recipe sweeps (bench/recipe_sweep/*.yaml).
#   bash bench/train_recipes_parallel.sh configs/cpm_6stage_cpu.yaml ...
#   env: DEVICE (cuda), WORKERS loader processes per recipe (1), JOB_LIMIT seconds (450), RUNS_DIR (runs)
set -u
export PYTHONUNBUFFERED=1
RUNS_DIR=${RUNS_DIR:-runs}
# the synthetic sets all recipes share, generated once before the trainings start
python3 -c "
from posekit.engine.trainer import resolve_split
for seed, num in ((1, 8000), (7, 500)):
    resolve_split({'synth': {'mode': 'single', 'num': num, 'seed': seed, 'size': 256, 'workers': 16}})
" || exit 1
mkdir -p "$RUNS_DIR"
for config in "$@"; do
  name=$(basename "$config" .yaml)
  timeout "${JOB_LIMIT:-450}" python3 -m posekit.cli train "$config" --device "${DEVICE:-cuda}" \
      --workers "${WORKERS:-1}" --work-dir "$RUNS_DIR/$name" --no-progress > "$RUNS_DIR/$name.out" 2>&1 &
done
wait
for config in "$@"; do
  name=$(basename "$config" .yaml)
  echo "== $name"; tail -c 600 "$RUNS_DIR/$name.out"; echo
done
