"""Accuracy and CPU latency of the shipped model on a fresh synthetic `single` validation set.

Accuracy: COCO OKS AP/AR and box-normalised PCK with ground-truth person boxes, on a
synthetic set whose seed is used by no recipe. Latency: one person crop at a time
(batch 1) with 2 torch threads, eager, after warm-up; the median over many runs of
(a) the model forward alone and (b) the whole estimator call (crop warp, normalisation,
forward, decode, back to image coordinates); also per-crop time at batch 16.

Every configuration is measured: plain and with the flip test (the mirrored crop's heatmaps
averaged in, its forward pass batched with the crop's), each in float32 and, where the CPU
computes bfloat16 natively (posekit.estimators.topdown.native_bfloat16), in bfloat16. The
targets apply to the configuration the model's record ships as its default. The forward is
timed as the estimator runs it (BatchNorm folded, posekit/models/fold.py) and, as the same-run
baseline, unfolded in float32.

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
from posekit.estimators.topdown import native_bfloat16  # noqa: E402


def config_name(flip_test: bool, dtype: torch.dtype) -> str:
    return f"{'flip test' if flip_test else 'plain'}, {str(dtype).removeprefix('torch.')}"


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
    shipped = posekit.load(args.model)
    default = config_name(shipped.flip_test, shipped.dtype)
    precisions = ["float32"] + (["bfloat16"] if native_bfloat16(torch.device("cpu")) else [])
    configs = {}
    for flip in (False, True):
        for precision in precisions:
            est = posekit.load(args.model, flip_test=flip, precision=precision)
            configs[config_name(flip, est.dtype)] = est
    t0 = time.time()
    accuracy = {name: evaluate_topdown(est, ann, image_dir) for name, est in configs.items()}
    eval_s = time.time() - t0

    w, h = shipped.input_size
    image = np.asarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3)), np.uint8)
    box = np.array([[40, 10, 200, 250]], np.float32)
    boxes16 = np.repeat(box, 16, axis=0)
    inputs = {b: torch.randn(b, 3, h, w).contiguous(memory_format=torch.channels_last) for b in (1, 2, 16)}
    forwards = {"": (configs["plain, float32"].inference_model, torch.float32),
                "_unfolded": (configs["plain, float32"].model, torch.float32)}
    if "bfloat16" in precisions:
        forwards["_bfloat16"] = (configs["plain, bfloat16"].inference_model, torch.bfloat16)
    latency: dict[str, float] = {}
    with torch.inference_mode():
        for _ in range(20):
            for model, dtype in forwards.values():
                model(inputs[2].to(dtype))
            for est in configs.values():
                est(image, boxes=box)
        load_before = machine_info()["loadavg_1min"]
        for b in (1, 2):
            for suffix, (model, dtype) in forwards.items():
                x = inputs[b].to(dtype)
                latency[f"model_forward_b{b}{suffix}"] = median_ms(lambda: model(x), args.runs)
        latency["model_forward_per_crop_b16"] = median_ms(lambda: forwards[""][0](inputs[16]),
                                                          max(10, args.runs // 10)) / 16
        pipeline: dict[str, dict[str, float]] = {}
        for name, est in configs.items():
            pipeline[name] = {
                "b1": round(median_ms(lambda: est(image, boxes=box), args.runs), 2),
                "per_crop_b16": round(median_ms(lambda: est(image, boxes=boxes16), max(10, args.runs // 10)) / 16, 2)}
    latency = {k: round(v, 2) for k, v in latency.items()}
    shipped_latency = pipeline[default]["b1"]
    info = machine_info()
    n_params = sum(p.numel() for p in shipped.model.parameters())
    result = {
        "command": "python bench/bench_shipped_model.py " + " ".join(sys.argv[1:]),
        "machine": {**info, "loadavg_1min_before_timing": load_before}, "model": args.model,
        "params": n_params, "input_size": [w, h],
        "validation": {"mode": "single", "num_images": args.num, "seed": args.seed, "size": 256,
                       "boxes": "ground truth", "box_padding": shipped.box_padding},
        # the shipped default (the record's flip test and precision); scripts/ship_model.py copies
        # these figures into the record and checks they were measured for what it ships
        "default_config": default,
        "default_mode": "flip test" if shipped.flip_test else "plain",
        "default_precision": shipped.precision,  # the record's setting; default_config names the dtype it ran in
        "accuracy": accuracy[default],
        "shipped_latency_ms_b1": shipped_latency,
        "accuracy_by_config": accuracy, "eval_seconds": round(eval_s, 1),
        "pipeline_latency_ms": pipeline,
        "forward_latency_ms": {**latency, "threads": 2, "runs": args.runs},
        "targets": {"AP>=0.75": accuracy[default]["AP"] >= 0.75, "latency_b1<=15ms": shipped_latency <= 15.0},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    names = list(configs)
    label = {name: f"**{name}** (shipped default)" if name == default else name for name in names}
    lines = [f"# Shipped model `{args.model}`: accuracy and CPU latency", "",
             f"Command: `{result['command']}`  ", f"Date: {info['date']}  ",
             f"Machine: {info['cpu']}, {info['cores']} cores, torch {info.get('torch')}; "
             f"1-min load average {load_before:.2f} before timing, {info['loadavg_1min']:.2f} after", "",
             f"Validation: fresh synthetic `single` set, {args.num} images at 256x256, seed {args.seed}, GT boxes "
             f"(crop padding {shipped.box_padding}, the record's).", "",
             "| metric | " + " | ".join(label[n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(f"{accuracy[n][k]:.4f}" for n in names) + " |" for k in accuracy[default]]
    lines += ["| **full pipeline, batch 1 (ms)** | " + " | ".join(f"{pipeline[n]['b1']}" for n in names) + " |",
              "| full pipeline per crop, batch 16 (ms) | "
              + " | ".join(f"{pipeline[n]['per_crop_b16']}" for n in names) + " |"]
    lines += ["", f"Parameters: {n_params:,}; input {w}x{h}.", "",
              "| model forward (2 threads, eager, median) | ms |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in latency.items()]
    lines += ["", "Full pipeline: crop warp, normalisation, forward, decode, back to image coordinates. "
              "`model_forward_*` is the float32 forward the estimator runs (BatchNorm folded into the "
              "convolutions); `*_unfolded` is the trained module as it is and `*_bfloat16` the folded one in "
              "bfloat16, timed in the same run. The flip test runs each crop and its mirror as one batch of 2.", "",
              f"Targets, for the shipped default ({default}): OKS AP >= 0.75: "
              f"**{'met' if result['targets']['AP>=0.75'] else 'NOT met'}** (AP {accuracy[default]['AP']:.4f}); "
              f"latency <= 15 ms per crop at batch 1 (full pipeline): "
              f"**{'met' if result['targets']['latency_b1<=15ms'] else 'NOT met'}** ({shipped_latency:.2f} ms).", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
