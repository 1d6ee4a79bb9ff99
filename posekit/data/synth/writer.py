"""Write a synthetic dataset in COCO person-keypoints format.

Layout::

    DIR/images/000000.jpg ...   JPEG, one per image (file_name in the JSON is the bare name)
    DIR/annotations.json        COCO keypoints file + extras, written atomically

Image ids are ``index + 1`` and annotation ids count from 1 in image order, so the first N
images and annotations of a larger set are identical to a set of N, whatever the number of
worker processes. Workers are started with the ``spawn`` method, so a script that calls
:func:`generate` with ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
from pathlib import Path

import cv2

from .config import resolve_knobs
from .points import COCO17_NAMES, COCO17_SKELETON, POINT_NAMES
from .scene import GENERATOR_VERSION, MODES, SynthSample, parse_size, synthesize

CONVENTIONS = {
    "world": "metres; y up; a person at rest faces +z with x to their left; floor y = 0",
    "camera": "OpenCV (x right, y down, z forward); X_cam = cam_R @ X_world + cam_t",
    "pixels": "continuous, pixel centres at integers (cv2.warpAffine); keypoints, joints_2d_all",
    "bbox": "COCO [x, y, w, h] = pycocotools toBbox of the visible mask (pixel c spans [c, c+1)); "
            "bbox_amodal likewise, from the projected body ellipsoids",
    "visibility": "0: behind camera or outside the image (x = y = 0); 2: zbuf >= z - 1.3 r - 0.01 m; else 1",
    "small_people": "mask area < 32^2 px or < 4 labelled COCO keypoints: num_keypoints = 0, keypoints all 0, "
                    "small = true; fully hidden people are not annotated",
    "keypoints_3d": "17 x 3 camera coordinates (m), COCO order; joints_3d_cam: 30 x 3, point_names order",
    "images": "file_name is relative to DIR/images/",
}


def image_name(index: int) -> str:
    """File name of image ``index`` (``000000.jpg``); at least six digits."""
    return f"{index:06d}.jpg"


def categories() -> list[dict]:
    """The COCO person category with its 17 keypoint names and 1-based skeleton."""
    return [{"id": 1, "name": "person", "supercategory": "person",
             "keypoints": list(COCO17_NAMES), "skeleton": [list(p) for p in COCO17_SKELETON]}]


def _render_one(task: tuple) -> tuple[int, dict, list[dict]]:
    seed, index, mode, size, knobs, images_dir = task
    sample: SynthSample = synthesize(seed, index, mode, size, encode_jpeg=True, **knobs)
    path = Path(images_dir) / image_name(index)
    path.write_bytes(sample.jpeg)
    return index, sample.info, sample.annotations


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _atomic_write_json(path: Path, payload: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".annotations.", suffix=".json.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def generate(out_dir: str | os.PathLike, num: int, seed: int = 0, mode: str = "single",
             size: int | tuple[int, int] | str = 256, workers: int = 1, progress: bool = False,
             **knobs) -> dict:
    """Render ``num`` images and write ``out_dir/images/*.jpg`` and ``out_dir/annotations.json``.

    ``knobs`` are generator knobs (``difficulty`` and the overrides of
    :func:`~posekit.data.synth.config.resolve_knobs`). Returns a summary dict
    (path, counts). Raises ValueError for bad arguments.
    """
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    width, height = parse_size(size)
    resolved = resolve_knobs(**knobs)  # validates knob names and values
    out = Path(out_dir)
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(int(seed), i, mode, (width, height), knobs, str(images_dir)) for i in range(num)]

    images, annotations = [], []

    def collect(result: tuple[int, dict, list[dict]]) -> None:
        index, info, anns = result
        images.append({"id": index + 1, "file_name": image_name(index), **info})
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, **ann})

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=num, unit="img", desc=f"synth {mode}")
    if workers == 1:
        for task in tasks:
            collect(_render_one(task))
            if bar is not None:
                bar.update()
    else:
        # "spawn": forking a process whose OpenCV/BLAS thread pools are already running can
        # deadlock the children, so workers start fresh (each builds its background bank).
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for result in pool.imap(_render_one, tasks, chunksize=max(1, min(16, num // (4 * workers)))):
                collect(result)
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()

    payload = {
        "info": {"description": f"posekit synthetic human pose benchmark ({mode})",
                 "version": GENERATOR_VERSION},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories(),
        "point_names": list(POINT_NAMES),
        "posekit_synth": {"generator_version": GENERATOR_VERSION, "mode": mode,
                          "size": [width, height], "seed": int(seed), "num_images": num,
                          "knobs": resolved, "conventions": CONVENTIONS},
    }
    _atomic_write_json(out / "annotations.json", payload)
    labelled = sum(1 for a in annotations if a["num_keypoints"] > 0)
    return {"out": str(out), "images": num, "annotations": len(annotations), "labelled": labelled}
