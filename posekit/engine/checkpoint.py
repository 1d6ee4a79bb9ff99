"""Atomic training checkpoints: weights as safetensors, training state as a weights-only torch file.

A checkpoint directory holds ``model.safetensors`` (the weights), ``record.json`` (what is
needed to rebuild and use the model: architecture, skeleton, input size, codec,
normalisation, recipe, metrics) and, for resuming, ``state.pt`` (optimizer, scheduler,
epoch, RNG states; read back with ``torch.load(weights_only=True)``).
Every file is written to a temporary name in the same directory and renamed into place,
so a crash never leaves a half-written checkpoint.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_training_state(path: str | Path, state: dict[str, Any]) -> None:
    """Save optimizer/scheduler/epoch/RNG state atomically (loadable with ``weights_only=True``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

def load_training_state(path: str | Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)
