"""Accuracy and CPU latency of the shipped model on a fresh synthetic `single` validation set.

Accuracy: COCO OKS AP/AR and box-normalised PCK with ground-truth person boxes, on a
synthetic set whose seed is used by no recipe. Latency: one person crop at a time
(batch 1) with 2 torch threads, eager, after warm-up; the median over many runs of
(a) the model forward alone and (b) the whole estimator call (crop warp, normalisation,
forward, decode, back to image coordinates); also per-crop time at batch 16. The flip test
(heatmaps of the mirrored crop averaged in) is measured beside the plain estimator, accuracy and
batch-1 latency; the targets apply to the plain, shipped default.

    python bench/bench_shipped_model.py [--model NAME] [--num 500] [--seed 424242]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, median_ms  # noqa: E402

import posekit  # noqa: E402
from posekit.engine.evaluate import evaluate_topdown  # noqa: E402
from posekit.engine.trainer import resolve_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="posekit_synth_hrnet_w16s_192x144")
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "shipped_model"))
    args = parser.parse_args()

    torch.set_num_threads(2)
    est = posekit.load(args.model)
    ann, image_dir = resolve_split({"synth": {"mode": "single", "num": args.num, "seed": args.seed, "size": 256,
                                              "workers": 2}})
    t0 = time.time()
    accuracy = evaluate_topdown(est, ann, image_dir)
    eval_s = time.time() - t0
    flip_est = posekit.load(args.model, flip_test=True)
    flip_accuracy = evaluate_topdown(flip_est, ann, image_dir)

    w, h = est.input_size
    image = np.asarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3)), np.uint8)
    box = np.array([[40, 10, 200, 250]], np.float32)
    x1 = torch.randn(1, 3, h, w)
    x16 = torch.randn(16, 3, h, w)
    boxes16 = np.repeat(box, 16, axis=0)
    with torch.inference_mode():
        for _ in range(20):
            est.model(x1)
            est(image, boxes=box)
        load_before = machine_info()["loadavg_1min"]
        model_b1 = median_ms(lambda: est.model(x1), args.runs)
        full_b1 = median_ms(lambda: est(image, boxes=box), args.runs)
        model_b16 = median_ms(lambda: est.model(x16), max(10, args.runs // 10)) / 16
        full_b16 = median_ms(lambda: est(image, boxes=boxes16), max(10, args.runs // 10)) / 16
        for _ in range(10):
            flip_est(image, boxes=box)
        flip_b1 = median_ms(lambda: flip_est(image, boxes=box), args.runs)
    info = machine_info()
    n_params = sum(p.numel() for p in est.model.parameters())
    result = {
        "command": "python bench/bench_shipped_model.py " + " ".join(sys.argv[1:]),
        "machine": {**info, "loadavg_1min_before_timing": load_before}, "model": args.model,
        "params": n_params, "input_size": [w, h],
        "validation": {"mode": "single", "num_images": args.num, "seed": args.seed, "size": 256,
                       "boxes": "ground truth"},
        "accuracy": accuracy, "eval_seconds": round(eval_s, 1),
        "flip_test": {"accuracy": flip_accuracy, "full_pipeline_b1_ms": round(flip_b1, 2)},
        "latency_ms": {"model_forward_b1": round(model_b1, 2), "full_pipeline_b1": round(full_b1, 2),
                       "model_forward_per_crop_b16": round(model_b16, 2),
                       "full_pipeline_per_crop_b16": round(full_b16, 2), "threads": 2, "runs": args.runs},
        "targets": {"AP>=0.75": accuracy["AP"] >= 0.75, "latency_b1<=15ms": full_b1 <= 15.0},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Shipped model `{args.model}`: accuracy and CPU latency", "",
             f"Command: `{result['command']}`  ", f"Date: {info['date']}  ",
             f"Machine: {info['cpu']}, {info['cores']} cores, torch {info.get('torch')}; "
             f"1-min load average {load_before:.2f} before timing, {info['loadavg_1min']:.2f} after", "",
             f"Validation: fresh synthetic `single` set, {args.num} images at 256x256, seed {args.seed}, GT boxes.", "",
             "| metric | shipped default | with flip test |", "|---|---|---|"]
    lines += [f"| {k} | {v:.4f} | {flip_accuracy[k]:.4f} |" for k, v in accuracy.items()]
    lines += ["", f"Parameters: {n_params:,}; input {w}x{h}.", "",
              "| latency (2 threads, eager, median) | ms per crop |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["latency_ms"].items() if k not in ("threads", "runs")]
    lines += [f"| full_pipeline_b1 with flip test | {flip_b1:.2f} |"]
    lines += ["", f"Targets: OKS AP >= 0.75: **{'met' if result['targets']['AP>=0.75'] else 'NOT met'}** "
              f"(AP {accuracy['AP']:.4f}); latency <= 15 ms per crop at batch 1 (full pipeline): "
              f"**{'met' if result['targets']['latency_b1<=15ms'] else 'NOT met'}** ({full_b1:.2f} ms).", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
