"""``posekit data``: dataset files to COCO JSON, and a look at a few samples.

``posekit data convert FORMAT SRC DST``: read ``SRC`` with the reader of ``FORMAT`` (a key of
:data:`posekit.data.readers.READERS`) and write its samples to ``DST`` as COCO keypoints JSON in
the dataset's own skeleton (:mod:`posekit.data.convert`), atomically. Formats without 2D
keypoints (AMASS) are refused. Pickled inputs (VideoPose3D's Human3.6M npz files) are read only
with ``--trust-pickle``.

``posekit data show FILE [--format F] [--num N] [--out DIR] [--image-dir D]``: draw the first
``N`` samples with their skeletons (visible and occluded joints; boxes) and write
``DIR/<index>_<image name>.png``. The image is ``meta["file"]`` (under ``--image-dir``); where it
cannot be read (annotation-only formats, images not at hand), the poses are drawn on a black
canvas of the image size when the file records it, else of the keypoints' extent plus a margin.
``--format`` defaults from the suffix: ``.json`` -> coco, ``.h5`` -> mpii.

Errors (unreadable file, bad record) print one line naming file, record and field; exit status 2.
Only ``show`` imports OpenCV; neither command imports torch.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

_SUFFIX_FORMATS = {".json": "coco", ".h5": "mpii"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from posekit.data.readers import READERS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    conv = sub.add_parser("convert", help="write a dataset file as COCO keypoints JSON")
    conv.add_argument("format", choices=sorted(READERS), help="dataset format of SRC")
    conv.add_argument("src", help="the dataset's annotation file")
    conv.add_argument("dst", help="output COCO JSON path")
    conv.add_argument("--image-dir", help="prefix for the images' file names")
    conv.add_argument("--trust-pickle", action="store_true",
                      help="allow pickled inputs (VideoPose3D npz); unpickling a file can run code")
    show = sub.add_parser("show", help="draw a few samples with their skeletons to PNG files")
    show.add_argument("file", help="the dataset's annotation file")
    show.add_argument("--format", choices=sorted(READERS), help="dataset format (default: from the suffix)")
    show.add_argument("--num", type=int, default=4, help="samples to draw (default 4)")
    show.add_argument("--out", default="posekit_show", help="output folder (default ./posekit_show)")
    show.add_argument("--image-dir", help="folder of the images (default: names as the file gives them)")
    show.add_argument("--trust-pickle", action="store_true",
                      help="allow pickled inputs (VideoPose3D npz); unpickling a file can run code")


#: Formats whose readers take ``trust_pickle`` (pickled npz arrays or camera files).
_PICKLE_FORMATS = ("h36m", "mpi_inf_3dhp", "amass")


def _read(fmt: str, path: str, image_dir: str | None, trust_pickle: bool = False):
    from posekit.data.readers import read_dataset

    kwargs: dict[str, Any] = {"image_dir": image_dir} if image_dir else {}
    if trust_pickle and fmt in _PICKLE_FORMATS:
        kwargs["trust_pickle"] = True
    return read_dataset(fmt, path, **kwargs)


def _convert(args: argparse.Namespace) -> int:
    from posekit.data.convert import samples_to_coco, write_json_atomic

    if args.format == "amass":
        raise ValueError(f"{args.src}: format 'amass' holds body-model motion, no 2D keypoints to write as COCO")
    coco = samples_to_coco(_read(args.format, args.src, args.image_dir, args.trust_pickle), source=args.src)
    write_json_atomic(args.dst, coco)
    print(f"{args.dst}: {len(coco['images'])} images, {len(coco['annotations'])} people, "
          f"skeleton with {len(coco['categories'][0]['keypoints'])} keypoints")
    return 0


def canvas_for(keypoints: np.ndarray, visibility: np.ndarray, meta: dict[str, Any],
               margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A black RGB canvas for poses without an image, and the ``(x, y)`` offset to add to them.

    The image size from ``meta`` (``width``/``height`` or ``image_size``) when present (offset 0);
    else the extent of the labelled keypoints ``(N, K, 2)`` grown by ``margin`` of its size on
    every side (at least 16 px), with the offset moving that extent into the canvas.
    """
    size = None
    if "width" in meta and "height" in meta:
        size = (int(meta["width"]), int(meta["height"]))
    elif meta.get("image_size") is not None:
        size = tuple(int(v) for v in meta["image_size"])
    if size is not None:
        return np.zeros((size[1], size[0], 3), np.uint8), np.zeros(2)
    pts = keypoints[(visibility > 0) & np.isfinite(keypoints).all(axis=-1)]
    if pts.size == 0:
        return np.zeros((256, 256, 3), np.uint8), np.zeros(2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.maximum(margin * (hi - lo), 16.0)
    w, h = (np.ceil(hi - lo + 2 * pad)).astype(int) + 1
    return np.zeros((h, w, 3), np.uint8), pad - lo


def _show(args: argparse.Namespace) -> int:
    import cv2

    from posekit.viz.draw import draw_poses

    fmt = args.format or _SUFFIX_FORMATS.get(Path(args.file).suffix.lower())
    if fmt is None:
        raise ValueError(f"{args.file}: cannot tell the format from the suffix; give --format")
    if fmt == "amass":
        raise ValueError(f"{args.file}: format 'amass' holds body-model motion, no 2D keypoints to draw")
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for index, sample in enumerate(_read(fmt, args.file, args.image_dir, args.trust_pickle)):
        if written == args.num:
            break
        name = str(sample.meta.get("file", f"sample{index}"))
        image = cv2.imread(name, cv2.IMREAD_COLOR) if Path(name).is_file() else None
        kps = np.asarray(sample.keypoints, np.float64)
        boxes = np.asarray(sample.boxes, np.float64).reshape(-1, 4)
        boxes = boxes[np.isfinite(boxes).all(axis=1)]  # no box where a person has no labelled joint
        if image is not None:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            note = ""
        else:
            image, offset = canvas_for(kps, sample.visibility, sample.meta)
            kps, boxes = kps + offset, boxes + np.tile(offset, 2)
            note = " (no image: blank canvas)"
        drawn = draw_poses(image, kps, (sample.visibility > 0).astype(np.float32), sample.skeleton, boxes=boxes,
                           kpt_thr=0.5)
        path = out / f"{index:04d}_{Path(name).stem}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not be written")
        if not (sample.visibility > 0).any():
            note += " (no labelled 2D joint)"
        print(f"{path}: {len(kps)} people{note}")
        written += 1
    if written == 0:
        raise ValueError(f"{args.file}: holds no samples")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _convert(args) if args.action == "convert" else _show(args)
    except ValueError as exc:
        message = str(exc).replace("trust_pickle=True", "--trust-pickle")
    except OSError as exc:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
    print(f"posekit data: error: {message}", file=sys.stderr)
    return 2
