"""The ``posekit`` command line: ``posekit <command> [options]``.

Each command lives in ``posekit/commands/<name>.py`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Commands are imported only
when chosen, so ``posekit eval`` never imports torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "synth": "generate the synthetic benchmark (COCO format + 3D extras)",
    "train": "train a model from a YAML recipe",
    "eval": "evaluate results against ground truth (COCO, CrowdPose, AIC, PCK, PCKh, PDJ, PCP, MPJPE, 3DPCK)",
    "data": "convert dataset files to COCO JSON, or draw a few samples",
    "predict": "run a model on an image or a folder; write overlays and results.json",
    "demo": "generate synthetic images, run the shipped model, print AP",
    "zoo": "list the model zoo",
}


def _command_module(name: str):
    return importlib.import_module(f"posekit.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="posekit", description="posekit: human pose estimation")
    parser.add_argument("--version", action="version", version=f"posekit {__import__('posekit').__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        args = parser.parse_args(argv)  # prints help / version / errors
        parser.print_help()
        return 2
    name = argv[0]
    module = _command_module(name)
    cmd_parser = argparse.ArgumentParser(prog=f"posekit {name}", description=COMMANDS[name])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
