"""``posekit predict SOURCE --model NAME|CHECKPOINT --out DIR [--boxes DETECTIONS.json]``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="an image file or a folder of images")
    parser.add_argument("--model", default="posekit_synth_hrnet_w16s_192x144",
                        help="zoo name, checkpoint directory or weights file (default: the shipped model)")
    parser.add_argument("--weights", help="weights file overriding the model's own (e.g. an official checkpoint)")
    parser.add_argument("--out", required=True, help="output folder (vis/*.jpg, results.json, images.json)")
    parser.add_argument("--boxes", help="person boxes, COCO detection-results JSON (image_id, bbox [x,y,w,h], score)")
    parser.add_argument("--box-thr", type=float, default=0.0, help="ignore boxes scored below this")
    parser.add_argument("--images-json", help="COCO file whose 'images' map file names to image ids")
    parser.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                        help="average with the horizontally mirrored crop (default: the model record's choice)")
    parser.add_argument("--precision", choices=("float32", "bfloat16", "auto"),
                        help="dtype the model runs in; auto = bfloat16 where the CPU/GPU computes it natively "
                             "(default: the model record's choice, else float32)")
    parser.add_argument("--kpt-thr", type=float, default=0.3, help="joints scored below this are not drawn")
    parser.add_argument("--no-overlays", action="store_true", help="write results only")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")


def run(args: argparse.Namespace) -> int:
    import torch

    import posekit
    from posekit.inference.predictor import list_images, predict_files, read_detections

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        files = list_images(args.source)
        detections = read_detections(args.boxes, args.box_thr) if args.boxes else None
        ids_by_name = None
        if args.images_json:
            data = json.loads(Path(args.images_json).read_text())
            ids_by_name = {im["file_name"]: int(im["id"]) for im in data["images"]}
        estimator = posekit.load(args.model, weights=args.weights, flip_test=args.flip_test,
                                 precision=args.precision)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run_ = predict_files(estimator, files, args.out, detections, ids_by_name, args.kpt_thr,
                         overlays=not args.no_overlays)
    print(f"{len(run_.images)} image(s), {len(run_.results)} pose(s) -> {Path(args.out) / 'results.json'}")
    if run_.failures:
        print(f"{len(run_.failures)} image(s) failed: {', '.join(run_.failures)}", file=sys.stderr)
        return 1
    return 0
