"""``posekit train CONFIG.yaml [--work-dir DIR] [--resume] [--device DEV] [--workers N]``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML recipe (see configs/)")
    parser.add_argument("--work-dir", help="where checkpoints and log.jsonl go (default: runs/<name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --work-dir")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto (overrides the recipe's train.device)")
    parser.add_argument("--workers", type=int,
                        help="data-loading and synthetic-generation worker processes (overrides the recipe)")


def run(args: argparse.Namespace) -> int:
    from posekit.engine.trainer import load_config, train

    try:
        config = load_config(args.config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.device:
        config["train"]["device"] = args.device
    if args.workers is not None:
        config["train"]["workers"] = args.workers
        for split in config["data"].values():
            if isinstance(split, dict) and "synth" in split:
                split["synth"]["workers"] = max(1, args.workers)
    work_dir = Path(args.work_dir or Path("runs") / config["name"])
    try:
        metrics = train(config, work_dir, resume=args.resume, progress=not args.no_progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"work_dir": str(work_dir), "metrics": metrics}))
    return 0
