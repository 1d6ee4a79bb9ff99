"""Batch prediction over image files: overlays + COCO results, bad files skipped and reported."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from posekit.data.datasets import read_rgb
from posekit.atomic import atomic_write_bytes, atomic_write_json

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def list_images(source: str | Path) -> list[Path]:
    """The image files of ``source``: the file itself, or a folder's images sorted by name."""
    source = Path(source)
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if source.is_file():
        return [source]
    raise FileNotFoundError(f"{source}: no such file or folder")


def image_id_for(path: Path, index: int, ids_by_name: dict[str, int] | None) -> int:
    """COCO image id of ``path``: from an annotation file's ``images`` list, else the numeric
    file stem (COCO style ``000000000785.jpg`` -> 785), else ``index + 1``."""
    if ids_by_name is not None and path.name in ids_by_name:
        return ids_by_name[path.name]
    return int(path.stem) if path.stem.isdigit() else index + 1


def read_detections(path: str | Path, min_score: float = 0.0) -> dict[int | str, tuple[np.ndarray, np.ndarray]]:
    """Person boxes of a COCO detection-results file scoring at least ``min_score``:
    ``{image_id: (boxes (N, 4) xyxy, scores (N,))}`` (see ``read_coco_detections``)."""
    from posekit.data.readers.coco import read_coco_detections

    kept = {}
    for image_id, (boxes, scores) in read_coco_detections(path, category_id=1).items():
        keep = scores >= min_score
        kept[image_id] = (boxes[keep], scores[keep])
    return kept


@dataclass
class PredictionRun:
    results: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def predict_files(estimator, files: Iterable[Path], out_dir: str | Path,
                  detections: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
                  ids_by_name: dict[str, int] | None = None, kpt_thr: float = 0.3,
                  overlays: bool = True, batch_images: int = 8) -> PredictionRun:
    """Run ``estimator`` on ``files``; write ``out_dir/vis/*.jpg``, ``results.json`` and ``images.json``.

    Without ``detections`` each whole image is one person box. An image with detections
    but none for it yields no result. Unreadable images are reported on stderr, skipped and
    listed in ``run.failures``; everything else is still written.
    """
    out_dir = Path(out_dir)
    run = PredictionRun()
    pending: list[tuple[Path, int, np.ndarray]] = []

    def flush() -> None:
        boxes = [None if detections is None else detections.get(i, (np.zeros((0, 4), np.float32),))[0]
                 for _, i, _ in pending]
        scores = [None if detections is None else detections.get(i, (None, np.zeros(0, np.float32)))[1]
                  for _, i, _ in pending]
        for (path, image_id, image), res in zip(pending, estimator.predict_many(
                [p[2] for p in pending], boxes, scores)):
            run.results.extend(res.to_coco(image_id))
            if overlays:
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(res.plot(image, kpt_thr), cv2.COLOR_RGB2BGR))
                atomic_write_bytes(out_dir / "vis" / f"{path.stem}.jpg", buf.tobytes())
        pending.clear()

    for index, path in enumerate(files):
        try:
            image = read_rgb(path)
        except OSError as err:
            print(f"error: {err}; skipped", file=sys.stderr)
            run.failures.append(str(path))
            continue
        image_id = image_id_for(path, index, ids_by_name)
        run.images.append({"id": image_id, "file_name": path.name, "height": image.shape[0],
                           "width": image.shape[1]})
        pending.append((path, image_id, image))
        if len(pending) >= batch_images:
            flush()
    if pending:
        flush()
    atomic_write_json(out_dir / "results.json", run.results)
    atomic_write_json(out_dir / "images.json", run.images)
    return run
