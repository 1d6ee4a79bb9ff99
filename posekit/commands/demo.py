"""``posekit demo --out DIR``: synthetic images -> the shipped model -> overlays, results and AP."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder")
    parser.add_argument("--num", type=int, default=12, help="number of synthetic images")
    parser.add_argument("--seed", type=int, default=2026, help="synthetic set seed")
    parser.add_argument("--mode", default="single", choices=["single", "scene"], help="synthetic framing")
    parser.add_argument("--model", default="posekit_synth_hrnet_w16s_192x144", help="model to run")


def run(args: argparse.Namespace) -> int:
    import posekit
    from posekit.data.synth.writer import generate
    from posekit.engine.evaluate import gt_box_inputs
    from posekit.data.readers.coco import read_coco_keypoints
    from posekit.inference.predictor import predict_files
    from posekit.metrics.coco_eval import evaluate_coco_keypoints

    out = Path(args.out)
    t0 = time.time()
    data_dir = out / "data"
    generate(data_dir, num=args.num, seed=args.seed, size=256, mode=args.mode)
    print(f"generated {args.num} synthetic '{args.mode}' images in {data_dir} ({time.time() - t0:.1f} s)")
    estimator = posekit.load(args.model)
    ann = data_dir / "annotations.json"
    images = read_coco_keypoints(ann, estimator.skeleton)
    detections = {im.image_id: b for im, b in zip(images, gt_box_inputs(images))}
    ids = {im.file_name: im.image_id for im in images}
    t1 = time.time()
    run_ = predict_files(estimator, [data_dir / "images" / im.file_name for im in images], out, detections, ids)
    print(f"ran {args.model} on {len(images)} images, {len(run_.results)} people ({time.time() - t1:.2f} s); "
          f"overlays in {out / 'vis'}, results in {out / 'results.json'}")
    stats = evaluate_coco_keypoints(ann, run_.results, sigmas=estimator.skeleton.sigmas_array)
    print("OKS AP against the generated ground truth (GT boxes): "
          + json.dumps({k: round(float(v), 4) for k, v in stats.items()}))
    if run_.failures:
        print(f"{len(run_.failures)} image(s) failed", file=sys.stderr)
        return 1
    return 0
