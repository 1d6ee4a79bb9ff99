"""Released checkpoints load strictly: for every official HRNet / SimpleBaseline manifest in
``../shared/manifests``, a random state dict with exactly the listed names and shapes, wrapped
as the manifest's note says, is saved as ``.pth`` and loaded into the zoo model; parameter
counts equal the reference ``num_params`` (``sum(p.numel())`` of the reference module).
Also unit tests of the wrapper/prefix unwrapping and of the weights-only loading."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from posekit.models.checkpoints import CheckpointError, load_checkpoint, read_state_dict
from posekit.models.flops import count_params
from posekit.models.zoo import build_model

MANIFESTS = Path(__file__).resolve().parents[1].parent / "shared" / "manifests"
PATTERNS = ("hrnet_*_official.json", "simplebaseline_*_official.json")


def _manifest_params():
    paths = sorted(p for pattern in PATTERNS for p in MANIFESTS.glob(pattern)) if MANIFESTS.is_dir() else []
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no official manifests in {MANIFESTS}"))]
    return [pytest.param(p, id=p.stem) for p in paths]


def _resolve_note(path: Path) -> str:
    """The manifest's note; a note 'as <other>' (e.g. 'as r50', 'as hrnet_w32, width 48') is
    replaced by the note of the manifest it refers to."""
    note = json.loads(path.read_text())["note"]
    match = re.match(r"as (\w+)", note)
    if match is None:
        return note
    family, token = path.stem.split("_")[0], match.group(1)
    stem = token if token.startswith(family) else f"{family}_{token}"
    referred = sorted(MANIFESTS.glob(f"{stem}_*official.json")) or sorted(MANIFESTS.glob(f"{stem}_*.json"))
    assert referred, f"{path.name}: note {note!r} refers to a manifest that is not there"
    return _resolve_note(referred[0])


def _wrap_as_released(state: dict[str, torch.Tensor], note: str) -> object:
    """Wrap a flat state dict the way ``note`` says the released file is."""
    for prefix in ("model.module.", "module."):
        if f"'{prefix}'" in note:
            state = {prefix + k: v for k, v in state.items()}
            break
    for key in ("state_dict", "model_pos", "model"):
        if f"['{key}']" in note:
            return {key: state, "epoch": 140}
    assert "flat state_dict" in note, f"cannot tell the wrapping from the note {note!r}"
    return state


def _random_state(keys: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in keys.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.randint(0, 10_000, tuple(shape), generator=gen, dtype=torch.int64)
        else:
            state[name] = torch.rand(tuple(shape), generator=gen)
    return state


@pytest.mark.parametrize("manifest_path", _manifest_params())
def test_official_checkpoint_loads_strictly(tmp_path, manifest_path):
    manifest = json.loads(manifest_path.read_text())
    zoo_name = manifest_path.stem.split("_coco_")[0]
    num_keypoints = manifest["keys"]["final_layer.weight"][0]
    assert len(manifest["keys"]) == manifest["num_tensors"]

    state = _random_state(manifest["keys"])
    checkpoint = tmp_path / f"{manifest_path.stem}.pth"
    torch.save(_wrap_as_released(state, _resolve_note(manifest_path)), checkpoint)

    model = load_checkpoint(build_model(zoo_name, num_keypoints=num_keypoints), checkpoint, strict=True)
    assert count_params(model) == manifest["num_params"]
    loaded = model.state_dict()
    assert {k: list(v.shape) for k, v in loaded.items()} == manifest["keys"]
    for name, value in state.items():
        assert torch.equal(loaded[name], value), name


def _small_state() -> dict[str, torch.Tensor]:
    return {"conv.weight": torch.randn(2, 1, 3, 3), "bn.num_batches_tracked": torch.tensor(5)}


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s,
        lambda s: {"state_dict": s, "epoch": 3, "best": 0.7},
        lambda s: {"model": s, "optimizer": {"lr": 0.1}},
        lambda s: {"model_pos": s, "epoch": 80},
        lambda s: {"module." + k: v for k, v in s.items()},
        lambda s: {"state_dict": {"model.module." + k: v for k, v in s.items()}},
        lambda s: {"checkpoint": 1, "model": {"state_dict": {"module." + k: v for k, v in s.items()}}},
    ],
    ids=["flat", "state_dict", "model", "model_pos", "module-prefix", "model.module-prefix", "nested"],
)
def test_read_state_dict_unwraps_released_layouts(tmp_path, wrap):
    state = _small_state()
    path = tmp_path / "ckpt.pth.tar"
    torch.save(wrap(state), path)
    unwrapped = read_state_dict(path)
    assert list(unwrapped) == list(state)
    assert all(torch.equal(unwrapped[k], state[k]) for k in state)


def test_prefix_is_kept_unless_every_key_has_it():
    state = {"module.a": torch.zeros(1), "b": torch.zeros(1)}
    assert list(read_state_dict(state)) == ["module.a", "b"]


def test_wrapper_without_a_state_dict_is_reported_with_the_file(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"weights": [1, 2], "epoch": 3}, path)
    with pytest.raises(CheckpointError, match=r"odd\.pth.*'weights'"):
        read_state_dict(path)


class _NotAllowedInWeightsOnly:
    """A pickled object that ``torch.load(weights_only=True)`` must refuse."""


def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _small_state(), "cfg": _NotAllowedInWeightsOnly()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth.*weights_only"):
        read_state_dict(path)


def test_unknown_suffix_and_missing_file_are_reported(tmp_path):
    unknown = tmp_path / "w.npz"
    unknown.write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"w\.npz: unknown checkpoint format"):
        read_state_dict(unknown)
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.safetensors")
