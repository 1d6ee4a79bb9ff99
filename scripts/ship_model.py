"""Copy a trained checkpoint into the package as a shipped zoo entry.

    python scripts/ship_model.py runs/NAME/checkpoint_eNNN NAME [--metrics bench/results/shipped_model.json]
        [--recipe configs/RECIPE.yaml] [--training-note TEXT] [--separate-partners JOINT ...] [--flip-test]
        [--precision float32|bfloat16|auto] [--box-padding P]

Writes ``posekit/weights/NAME.safetensors`` and ``posekit/weights/NAME.json`` (the zoo
record: architecture, skeleton, input size, normalisation, codec, recipe, metrics,
sha256, licence). With ``--metrics``, the benchmark must have measured the same defaults
(flip test, precision, box padding) as the record being written; that is checked before
anything is written.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", help="checkpoint directory written by posekit train")
    parser.add_argument("name", help="zoo name")
    parser.add_argument("--metrics", help="benchmark JSON (bench/bench_shipped_model.py) whose figures for the shipped "
                             "default mode go into the record")
    parser.add_argument("--recipe", help="the committed recipe, where the run used a local copy of it")
    parser.add_argument("--training-note", help="how the checkpoint was trained (device, command, log file)")
    parser.add_argument("--separate-partners", nargs="*", metavar="JOINT", default=[],
                        help="joints whose left/right pairs the estimator re-decodes where both heatmaps peak at one "
                             "point (posekit/codecs/partners.py); only pairs the error analysis finds collapsed")
    parser.add_argument("--flip-test", action="store_true",
                        help="the estimator averages each crop with its mirror by default (record 'flip_test')")
    parser.add_argument("--precision", choices=("float32", "bfloat16", "auto"),
                        help="the dtype the estimator runs the model in by default (record 'precision'; "
                             "default float32)")
    parser.add_argument("--box-padding", type=float,
                        help="crop padding around a person box at inference (record 'box_padding'; default: the "
                             "training recipe's)")
    args = parser.parse_args()
    ckpt = Path(args.checkpoint)
    record = json.loads((ckpt / "record.json").read_text())
    if args.box_padding is not None:
        record["box_padding"] = args.box_padding
    if args.precision:
        record["precision"] = args.precision
    if args.flip_test:
        record["flip_test"] = True
    if args.metrics:  # checked before anything is written
        bench = json.loads(Path(args.metrics).read_text())
        shipping = {"default_mode": "flip test" if record.get("flip_test") else "plain",
                    "default_precision": record.get("precision", "float32"),
                    "box_padding": record.get("box_padding", 1.25)}
        measured = {**{k: bench.get(k) for k in ("default_mode", "default_precision")},
                    "box_padding": bench["validation"].get("box_padding")}
        if measured != shipping:
            parser.error(f"{args.metrics} measured the defaults {measured}, this record ships {shipping}")
    weights_dir = ROOT / "posekit" / "weights"
    dst = weights_dir / f"{args.name}.safetensors"
    shutil.copyfile(ckpt / "model.safetensors", dst)
    record["name"] = args.name
    record["weights"] = dst.name
    record["sha256"] = hashlib.sha256(dst.read_bytes()).hexdigest()
    record["size_bytes"] = dst.stat().st_size
    if args.recipe or record.get("recipe"):
        recipe = Path(args.recipe or record["recipe"]).resolve()
        record["recipe"] = str(recipe.relative_to(ROOT)) if recipe.is_relative_to(ROOT) else recipe.name
    record["trained_on"] = "posekit synthetic benchmark (single mode)"
    record["licence"] = "Apache-2.0 (weights trained by posekit on its own synthetic data)"
    if args.training_note:
        record["training_note"] = args.training_note
    if args.separate_partners:
        record["separate_partners"] = list(args.separate_partners)
    if args.metrics:
        record["metrics"] = {**bench["accuracy"], "latency_ms_b1": bench["shipped_latency_ms_b1"],
                             "config": bench["default_config"], "benchmark": "bench/results/shipped_model.md"}
    (weights_dir / f"{args.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{dst} ({record['size_bytes'] / 1e6:.1f} MB), sha256 {record['sha256'][:16]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
