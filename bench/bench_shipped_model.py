"""Accuracy and CPU latency of the shipped model on a fresh synthetic `single` validation set.

Accuracy: COCO OKS AP/AR and box-normalised PCK with ground-truth person boxes, on a
synthetic set whose seed is used by no recipe. Latency: one person crop at a time
(batch 1) with 2 torch threads, eager, after warm-up; the median over many runs of
(a) the model forward alone and (b) the whole estimator call (crop warp, normalisation,
forward, decode, back to image coordinates); also per-crop time at batch 16. Both modes are
measured, plain and with the flip test (the mirrored crop's heatmaps averaged in, its forward
pass batched with the crop's); the targets apply to the mode the model's record ships as its
default. The forward is timed as the estimator runs it (BatchNorm folded, posekit/models/fold.py)
and, as the same-run baseline, unfolded.

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
    ann, image_dir = resolve_split({"synth": {"mode": "single", "num": args.num, "seed": args.seed, "size": 256,
                                              "workers": 2}})
    modes = {"plain": posekit.load(args.model, flip_test=False), "flip test": posekit.load(args.model, flip_test=True)}
    default_flip = bool(modes["plain"].record.get("flip_test", False))
    default = "flip test" if default_flip else "plain"
    t0 = time.time()
    accuracy = {mode: evaluate_topdown(est, ann, image_dir) for mode, est in modes.items()}
    eval_s = time.time() - t0

    est = modes["plain"]
    w, h = est.input_size
    image = np.asarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3)), np.uint8)
    box = np.array([[40, 10, 200, 250]], np.float32)
    boxes16 = np.repeat(box, 16, axis=0)
    inputs = {b: torch.randn(b, 3, h, w).contiguous(memory_format=torch.channels_last) for b in (1, 2, 16)}
    latency: dict[str, float] = {}
    with torch.inference_mode():
        for _ in range(20):
            est.inference_model(inputs[1])
            est.model(inputs[1])
            modes["flip test"](image, boxes=box)
        load_before = machine_info()["loadavg_1min"]
        for b in (1, 2):
            latency[f"model_forward_b{b}"] = median_ms(lambda: est.inference_model(inputs[b]), args.runs)
            latency[f"model_forward_b{b}_unfolded"] = median_ms(lambda: est.model(inputs[b]), args.runs)
        latency["model_forward_per_crop_b16"] = median_ms(lambda: est.inference_model(inputs[16]),
                                                          max(10, args.runs // 10)) / 16
        for mode, m_est in modes.items():
            key = "" if mode == "plain" else "_flip_test"
            latency[f"full_pipeline_b1{key}"] = median_ms(lambda: m_est(image, boxes=box), args.runs)
            latency[f"full_pipeline_per_crop_b16{key}"] = median_ms(lambda: m_est(image, boxes=boxes16),
                                                                    max(10, args.runs // 10)) / 16
    latency = {k: round(v, 2) for k, v in latency.items()}
    shipped_latency = latency["full_pipeline_b1_flip_test" if default_flip else "full_pipeline_b1"]
    info = machine_info()
    n_params = sum(p.numel() for p in est.model.parameters())
    result = {
        "command": "python bench/bench_shipped_model.py " + " ".join(sys.argv[1:]),
        "machine": {**info, "loadavg_1min_before_timing": load_before}, "model": args.model,
        "params": n_params, "input_size": [w, h],
        "validation": {"mode": "single", "num_images": args.num, "seed": args.seed, "size": 256,
                       "boxes": "ground truth"},
        "default_mode": default,
        # the shipped default's figures (scripts/ship_model.py copies these into the record)
        "accuracy": accuracy[default],
        "shipped_latency_ms_b1": shipped_latency,
        "accuracy_by_mode": accuracy, "eval_seconds": round(eval_s, 1),
        "latency_ms": {**latency, "threads": 2, "runs": args.runs},
        "targets": {"AP>=0.75": accuracy[default]["AP"] >= 0.75, "latency_b1<=15ms": shipped_latency <= 15.0},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    label = {mode: f"{mode} (shipped default)" if mode == default else mode for mode in modes}
    lines = [f"# Shipped model `{args.model}`: accuracy and CPU latency", "",
             f"Command: `{result['command']}`  ", f"Date: {info['date']}  ",
             f"Machine: {info['cpu']}, {info['cores']} cores, torch {info.get('torch')}; "
             f"1-min load average {load_before:.2f} before timing, {info['loadavg_1min']:.2f} after", "",
             f"Validation: fresh synthetic `single` set, {args.num} images at 256x256, seed {args.seed}, GT boxes.", "",
             f"| metric | {label['plain']} | {label['flip test']} |", "|---|---|---|"]
    lines += [f"| {k} | {v:.4f} | {accuracy['flip test'][k]:.4f} |" for k, v in accuracy["plain"].items()]
    lines += ["", f"Parameters: {n_params:,}; input {w}x{h}.", "",
              "| latency (2 threads, eager, median) | ms per crop |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in latency.items()]
    lines += ["", "`model_forward_*` is the forward the estimator runs (BatchNorm folded into the convolutions); "
              "`*_unfolded` is the trained module as it is, timed in the same run. `*_flip_test` rows are the "
              "estimator with the flip test (crop and mirror in one batch of 2).", "",
              f"Targets, for the shipped default ({default}): OKS AP >= 0.75: "
              f"**{'met' if result['targets']['AP>=0.75'] else 'NOT met'}** (AP {accuracy[default]['AP']:.4f}); "
              f"latency <= 15 ms per crop at batch 1 (full pipeline): "
              f"**{'met' if result['targets']['latency_b1<=15ms'] else 'NOT met'}** ({shipped_latency:.2f} ms).", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))

if __name__ == "__main__":
    main()
