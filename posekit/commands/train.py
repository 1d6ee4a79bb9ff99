"""``posekit train CONFIG.yaml [--work-dir DIR] [--resume]``."""
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


def run(args: argparse.Namespace) -> int:
    from posekit.engine.trainer import load_config, train

    try:
        config = load_config(args.config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    work_dir = Path(args.work_dir or Path("runs") / config["name"])
    try:
        metrics = train(config, work_dir, resume=args.resume, progress=not args.no_progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"work_dir": str(work_dir), "metrics": metrics}))
    return 0
