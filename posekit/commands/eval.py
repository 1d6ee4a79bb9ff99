"""``posekit eval``: score COCO-format keypoint results against COCO-format ground truth.

``--metric coco`` (default): the ten COCO keypoint AP/AR values exactly as pycocotools computes
them (see :mod:`posekit.metrics.coco_eval`). ``--metric pck``: box-normalised PCK -- every
non-crowd GT person with labelled joints is paired with the result of the same image that has
the highest OKS with it (a result may serve several people; a person without any result in
its image scores 0 on all joints), and each labelled joint is correct when its error divided by
``max(w, h)`` of the GT box is below ``--thr`` (``<=`` with ``--inclusive``).

Only numpy is imported (no torch, no OpenCV), so the command starts fast. Bad input prints one
line naming the file, record and field and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, help="ground truth, COCO keypoints JSON (images/annotations/categories)")
    parser.add_argument("--results", required=True, help="results, COCO results JSON (list of image_id, "
                                                         "category_id, keypoints, score)")
    parser.add_argument("--metric", choices=("coco", "pck"), default="coco", help="coco AP/AR (default) or pck")
    parser.add_argument("--skeleton", default="coco17", help="skeleton whose OKS sigmas are used (default coco17)")
    parser.add_argument("--max-dets", type=int, default=20, help="coco: detections kept per image (default 20)")
    parser.add_argument("--thr", type=float, default=0.05, help="pck: threshold on error / max(w, h) (default 0.05)")
    parser.add_argument("--inclusive", action="store_true", help="pck: count error <= thr (default: error < thr)")
    parser.add_argument("--json", action="store_true", help="print the values as one JSON object")


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory instead of handing it back to the kernel.

    Reading a large results file allocates and frees the same few tens of MB of buffers for
    every chunk; by default glibc unmaps or trims them each time and the next chunk faults the
    pages back in, about a fifth of the command's time spent in the kernel. This process ends
    right after the evaluation, so keeping the memory is free. No-op where glibc is absent.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):
        pass


def load_inputs(gt_path: str, results_path: str, num_keypoints: int):
    """``(CocoGroundTruth, CocoResults)`` read from the two files."""
    from posekit.metrics.coco_eval import load_coco_gt
    from posekit.metrics.json_io import read_coco_results

    return load_coco_gt(gt_path, num_keypoints=num_keypoints), read_coco_results(results_path)


def _skeleton(name: str):
    from posekit.skeletons import get_skeleton

    return get_skeleton(name)


def _run_coco(args: argparse.Namespace, skeleton) -> int:
    from posekit.metrics.coco_eval import CocoEvalParams, coco_keypoint_eval

    params = CocoEvalParams(sigmas=skeleton.sigmas_array, max_dets=args.max_dets)
    gt, results = load_inputs(args.gt, args.results, params.num_keypoints)
    result = coco_keypoint_eval(gt, results, params)
    print(json.dumps(result.stats) if args.json else result.summary())
    return 0


def _run_pck(args: argparse.Namespace, skeleton) -> int:
    from posekit.metrics.pck import coco_pck

    sigmas = skeleton.sigmas_array
    gt, results = load_inputs(args.gt, args.results, len(sigmas))
    if len(results) and results.keypoints.shape[1] != len(sigmas):
        from posekit.metrics.json_io import CocoFormatError

        raise CocoFormatError(f"{results.source}: record 0: field 'keypoints' has {3 * results.keypoints.shape[1]} "
                              f"values, expected {3 * len(sigmas)} for skeleton {args.skeleton}")
    res, n_people, n_missing = coco_pck(gt, results, args.thr, sigmas, strict=not args.inclusive)
    values = {
        "PCK": res.macro,
        "PCK_pooled": res.pooled,
        "per_keypoint": {name: (None if np.isnan(v) else float(v))
                         for name, v in zip(skeleton.names, res.per_keypoint)},
        "threshold": res.threshold,
        "comparison": "<" if res.strict else "<=",
        "instances": n_people,
        "instances_without_result": n_missing,
    }
    if args.json:
        print(json.dumps(values))
        return 0
    print(f"PCK@{res.threshold:g} (error / max(w, h) {values['comparison']} thr), {n_people} people, "
          f"{values['instances_without_result']} without a result")
    print(f"  mean over keypoints (MMPose 'PCK'): {res.macro:.4f}")
    print(f"  pooled over all joints:             {res.pooled:.4f}")
    for name, v, n in zip(skeleton.names, res.per_keypoint, res.counts):
        print(f"  {name:<20} {v:.4f} ({n} joints)")
    return 0


def run(args: argparse.Namespace) -> int:
    from posekit.metrics.json_io import CocoFormatError

    _keep_freed_memory()
    try:
        skeleton = _skeleton(args.skeleton)
        skeleton.sigmas_array  # ValueError when the skeleton has no sigmas
        if args.metric == "pck":
            return _run_pck(args, skeleton)
        return _run_coco(args, skeleton)
    except (CocoFormatError, ValueError) as exc:
        message = str(exc)
    except OSError as exc:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
    print(f"posekit eval: error: {message}", file=sys.stderr)
    return 2
