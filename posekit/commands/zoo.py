"""``posekit zoo``: the shipped models (with their metrics) and the architectures."""
from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the records as JSON")


def run(args: argparse.Namespace) -> int:
    from posekit.estimators.topdown import WEIGHTS_DIR
    from posekit.models.zoo import list_models

    records = [json.loads(p.read_text()) for p in sorted(WEIGHTS_DIR.glob("*.json"))]
    if args.json:
        print(json.dumps({"shipped": records, "architectures": sorted(list_models())}, indent=2))
        return 0
    print("shipped models (trained weights inside the package):")
    for r in records:
        m = r.get("metrics", {})
        defaults = (["flip test"] if r.get("flip_test") else []) + \
            ([f"precision {r['precision']}"] if r.get("precision", "float32") != "float32" else [])
        print(f"  {r['name']:<28} {r['arch']:<20} {r['skeleton']:<8} input {r['input_size'][0]}x{r['input_size'][1]}"
              f"  AP {m.get('AP', float('nan')):.3f}{'  (' + ', '.join(defaults) + ')' if defaults else ''}")
    print("architectures (random init, or load official weights with --weights):")
    for name in sorted(list_models()):
        print(f"  {name}")
    return 0
