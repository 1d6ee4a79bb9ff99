"""Loading and saving model weights.

:func:`load_checkpoint` reads safetensors files, PyTorch pickles (only ever through
``torch.load(weights_only=True)``) or an in-memory state dict, unwraps the layouts used by the
released checkpoints of the published models (a ``state_dict`` / ``model`` / ``model_pos`` entry,
keys prefixed ``module.`` or ``model.module.`` by DataParallel), and checks names and shapes
against the model before copying, so that a mismatch is reported in full instead of being
hidden. :func:`save_safetensors` writes atomically.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

# entries under which released checkpoints store the state dict, tried in this order
WRAPPER_KEYS = ("state_dict", "model", "model_pos")
# key prefixes added by (nested) DataParallel wrappers, longest first
WRAPPER_PREFIXES = ("model.module.", "module.")
TORCH_SUFFIXES = (".pth", ".pt", ".pth.tar", ".bin", ".ckpt")
_SHOW = 5  # how many names of each kind of mismatch an error message lists

StateDict = Mapping[str, torch.Tensor]


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read, or does not match the model it is loaded into."""


def read_state_dict(source: str | os.PathLike | StateDict) -> dict[str, torch.Tensor]:
    """Return the flat state dict held by ``source`` (a path or a mapping), unwrapped.

    Unwrapping: while the mapping is not all tensors, descend into the first of
    :data:`WRAPPER_KEYS` that holds a mapping; then strip a :data:`WRAPPER_PREFIXES` prefix
    shared by every key.
    """
    name = _describe(source)
    if isinstance(source, Mapping):
        obj: object = source
    else:
        obj = _read_file(Path(source))
    trail = []
    while isinstance(obj, Mapping) and not _is_flat_state_dict(obj):
        inner = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            non_tensor = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)][:_SHOW]
            raise CheckpointError(
                f"{name}: no state dict found at {'/'.join(trail) or 'top level'}: entries {non_tensor} "
                f"are not tensors and none of {list(WRAPPER_KEYS)} holds a mapping"
            )
        trail.append(inner)
        obj = obj[inner]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: expected a mapping of name -> tensor, got {type(obj).__name__}")
    state = dict(obj)
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
            break
    return state


def load_checkpoint(
    model: nn.Module, source: str | os.PathLike | StateDict, strict: bool = True
) -> nn.Module:
    """Copy the weights in ``source`` into ``model`` and return ``model``.

    ``source``: a ``.safetensors`` file, a PyTorch file (``.pth``, ``.pt``, ``.pth.tar``, ``.bin``,
    ``.ckpt``; read with ``torch.load(weights_only=True, map_location="cpu")``) or a state dict.
    Names must match exactly when ``strict`` (the default); shapes must always match. On a
    mismatch a :class:`CheckpointError` names the source and lists the first missing,
    unexpected and wrongly shaped entries with their counts. With ``strict=False`` missing and
    unexpected names are reported as a warning instead.
    """
    name = _describe(source)
    state = read_state_dict(source)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = _format_problems(missing, unexpected, wrong_shape)
    if wrong_shape or (strict and (missing or unexpected)):
        raise CheckpointError(f"{name} does not match {type(model).__name__}: {problems}")
    if missing or unexpected:
        warnings.warn(f"{name} loaded non-strictly into {type(model).__name__}: {problems}", stacklevel=2)
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    return model


def save_safetensors(
    state_dict: StateDict, path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``state_dict`` to ``path`` in safetensors format, atomically.

    The data go to a temporary file in the same directory, which is flushed to disk and then
    renamed over ``path`` (``os.replace``), so readers never see a partial file. ``metadata`` is
    stored in the safetensors header and must map strings to strings. Tensors are saved
    contiguous, on the CPU; tensors that share memory are stored as separate copies.
    """
    from safetensors.torch import save_file

    path = Path(path)
    meta = dict(metadata or {})
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"{path}: safetensors metadata must map str -> str; entry {k!r} has {type(v).__name__}")
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for k, v in state_dict.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{path}: state dict entry {k!r} is a {type(v).__name__}, not a tensor")
        t = v.detach().to("cpu").contiguous()
        if t.numel() and t.untyped_storage().data_ptr() in seen:
            t = t.clone()
        if t.numel():
            seen.add(t.untyped_storage().data_ptr())
        tensors[k] = t
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta or None)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_file(path: Path) -> object:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    lower = path.name.lower()
    if lower.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    if lower.endswith(TORCH_SUFFIXES):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors have many types; report them with the file name
            raise CheckpointError(f"{path}: cannot be read with torch.load(weights_only=True): {exc}") from exc
    raise CheckpointError(f"{path}: unknown checkpoint format; expected .safetensors or one of {TORCH_SUFFIXES}")


def _is_flat_state_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _describe(source: object) -> str:
    return "<in-memory state dict>" if isinstance(source, Mapping) else str(source)


def _format_problems(missing: list[str], unexpected: list[str], wrong_shape: list[str]) -> str:
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong_shape)):
        if items:
            more = f", ... ({len(items) - _SHOW} more)" if len(items) > _SHOW else ""
            parts.append(f"{len(items)} {label} key(s): {', '.join(items[:_SHOW])}{more}")
    return "; ".join(parts)
