"""Choose the crop padding a model's record ships, on the validation set (not the benchmark set).

The padding scales a person box into the crop (``posekit.data.transforms.box_to_center_size``);
a tighter crop gives the person more input pixels, a looser one more context. This scans it
with ground-truth boxes on the recipes' validation set (synthetic `single`, seed 7), plain and
with the flip test, and reports the best for each; bench/bench_shipped_model.py then reports
the shipped choice on its own set (seed 424242), which played no part in choosing it.

    python bench/choose_box_padding.py [--model NAME_OR_CHECKPOINT] [--paddings 1.0,1.05,...] [--precision auto]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

import posekit  # noqa: E402
from posekit.engine.evaluate import evaluate_topdown  # noqa: E402
from posekit.engine.trainer import resolve_split  # noqa: E402
from posekit.estimators.topdown import PRECISIONS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="posekit_synth_hrnet_w16s_192x144")
    parser.add_argument("--paddings", default="1.0,1.05,1.1,1.15,1.2,1.25,1.3,1.35")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "box_padding"))
    args = parser.parse_args()

    torch.set_num_threads(2)
    paddings = [float(p) for p in args.paddings.split(",")]
    ann, image_dir = resolve_split({"synth": {"mode": "single", "num": args.num, "seed": args.seed, "size": 256,
                                              "workers": 2}})
    scan: dict[str, dict[str, float]] = {}
    dtype = None
    for mode, flip in (("plain", False), ("flip test", True)):
        est = posekit.load(args.model, flip_test=flip, precision=args.precision)
        dtype = str(est.dtype).removeprefix("torch.")
        scan[mode] = {}
        for padding in paddings:
            est.box_padding = padding
            scan[mode][str(padding)] = evaluate_topdown(est, ann, image_dir)["AP"]
            print(mode, padding, scan[mode][str(padding)], flush=True)
    best = {mode: float(max(aps, key=aps.get)) for mode, aps in scan.items()}
    info = machine_info()
    result = {"command": "python bench/choose_box_padding.py " + " ".join(sys.argv[1:]), "machine": info,
              "model": args.model, "dtype": dtype,
              "validation": {"mode": "single", "num_images": args.num, "seed": args.seed, "size": 256,
                             "boxes": "ground truth"},
              "AP_by_padding": scan, "best_padding": best}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Crop padding for `{args.model}` (validation set, not the benchmark set)", "",
             f"Command: `{result['command']}`  ", f"Date: {info['date']}  ", f"Machine: {info['cpu']}, {info['cores']} cores  ",
             f"Validation: synthetic `single`, {args.num} images at 256x256, seed {args.seed}, GT boxes; {dtype}.", "",
             "| box padding | " + " | ".join(f"OKS AP, {m}" for m in scan) + " |", "|---" * (len(scan) + 1) + "|"]
    lines += [f"| {p} | " + " | ".join(f"{scan[m][str(p)]:.4f}" for m in scan) + " |" for p in paddings]
    lines += ["", "Best: " + "; ".join(f"{m} {best[m]}" for m in scan) + ".", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
