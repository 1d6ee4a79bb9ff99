"""``posekit synth``: write the synthetic benchmark (COCO keypoints + 3D extras).

    posekit synth --out DIR --num N --seed S --size 256 --mode single|scene \
                  [--workers W] [--difficulty D] [--set KNOB=VALUE ...]

``--size`` is the side of a square image or ``WxH``. ``--set`` overrides any generator knob
(see ``posekit.data.synth.config``); list values are comma-separated, e.g.
``--set height_frac=0.2,0.9``. Images go to ``DIR/images/``, annotations to
``DIR/annotations.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from posekit.data.synth.config import DEFAULT_DIFFICULTY, KNOB_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--num", type=int, required=True, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (image i depends only on seed, i)")
    parser.add_argument("--size", default="256", help="square side in pixels, or WxH (default 256)")
    parser.add_argument("--mode", choices=("single", "scene"), default="single")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    parser.add_argument("--difficulty", type=float, default=DEFAULT_DIFFICULTY, help="0 (easy) .. 1 (hard)")
    parser.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE",
                        help=f"override a knob ({', '.join(k for k in KNOB_NAMES if k != 'difficulty')})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KNOB=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = [v for v in value.split(",")] if "," in value else value
    return out


def run(args: argparse.Namespace) -> int:
    from posekit.data.synth.writer import generate

    try:
        knobs = _parse_overrides(args.set)
        start = time.time()
        summary = generate(args.out, args.num, seed=args.seed, mode=args.mode, size=args.size,
                           workers=args.workers, progress=not args.quiet,
                           difficulty=args.difficulty, **knobs)
    except ValueError as err:
        print(f"posekit synth: error: {err}", file=sys.stderr)
        return 2
    summary["seconds"] = round(time.time() - start, 2)
    print(json.dumps(summary))
    return 0
