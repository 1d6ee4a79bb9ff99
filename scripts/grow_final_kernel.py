"""Widen a checkpoint's final convolution to a larger kernel (old taps at the centre, new taps small
random), so a recipe can fine-tune it with ``arch_kwargs: {final_kernel: N}``.

    python scripts/grow_final_kernel.py SOURCE OUT.safetensors [--kernel 3] [--std 0.001] [--seed 0]

SOURCE: a ``posekit train`` run or checkpoint directory, or a weights file. See
``posekit.models.heads.heatmap.grow_final_kernel`` for why.
"""
from __future__ import annotations

import argparse
import sys

from posekit.engine.trainer import init_weights_path
from posekit.models.checkpoints import read_state_dict, save_safetensors
from posekit.models.heads.heatmap import grow_final_kernel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--std", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        state = read_state_dict(init_weights_path(args.source))
        grown = grow_final_kernel(state, args.kernel, args.std, args.seed)
    except (ValueError, KeyError) as err:
        print(f"grow_final_kernel: {args.source}: {err}", file=sys.stderr)
        return 2
    save_safetensors(grown, args.out)
    print(f"{args.out}: final_layer.weight {tuple(state['final_layer.weight'].shape)} -> "
          f"{tuple(grown['final_layer.weight'].shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
