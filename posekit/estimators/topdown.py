"""Top-down pose estimation: person boxes -> batched affine crops -> model -> codec -> image keypoints.

``TopDownEstimator`` holds a heatmap model, its codec and its preprocessing record.
Calling it on an image returns a ``PoseResult`` in image pixel coordinates (pixel
centres at integers). All crops of one image run as one batch; ``predict_many`` batches
crops across images.
"""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from posekit.codecs import build_codec
from posekit.codecs.partners import separate_partners
from posekit.data.datasets import normalize_image, read_rgb
from posekit.data.transforms import apply_affine, box_to_center_size, crop_affine, invert_affine, warp
from posekit.models.fold import fold_batchnorm
from posekit.skeletons import Skeleton, get_skeleton
from posekit.structures import PoseResult

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"

# Defaults of an architecture loaded by name without a posekit record (e.g. to load an
# official checkpoint): the COCO 256x192 top-down setting of SimpleBaseline/HRNet. The heatmap
# size follows the model's stride; regression models get the regression codec.
DEFAULT_RECORD: dict[str, Any] = {
    "skeleton": "coco17", "input_size": [192, 256],
    "codec": {"sigma": 2.0, "unbiased": False, "decode_mode": "quarter"},
    "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "color": "RGB"},
    "box_padding": 1.25, "arch_kwargs": {},
}

PRECISIONS = ("float32", "bfloat16", "auto")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions in hardware: a CUDA GPU that supports
    bfloat16, or a CPU with AVX512-BF16 or AMX (elsewhere oneDNN emulates bfloat16, slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)


def inference_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the estimator runs its model in: ``"float32"``, ``"bfloat16"``, or ``"auto"``
    (bfloat16 where :func:`native_bfloat16`, else float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


class TopDownEstimator:
    """A callable top-down estimator.

    ``model``: ``(B, 3, h, w)`` normalised RGB -> heatmaps ``(B, K, hh, hw)`` or normalised
    coordinates ``(B, K, 2)`` (regression models), on any device;
    ``codec``: decodes the model output into crop pixels (a ``posekit.codecs`` codec);
    ``input_size``: (w, h) of the crop;
    ``flip_test``: also run the horizontally mirrored crops and average the two raw outputs
    (the mirrored one mapped back by ``codec.flip_back``) before decoding, as the HRNet and
    princeton-vl test scripts average heatmaps; twice the model time;
    ``precision``: ``"float32"``, ``"bfloat16"`` or ``"auto"`` (:func:`inference_dtype`): the dtype of
    the inference model's weights and inputs; outputs are cast back to float32 before decoding.
    On a CPU with AMX, bfloat16 runs the shipped model's flip-test batch of 2 about 1.5x faster at
    the same AP (bench/results/shipped_model.md);
    ``separate_partners``: joint names whose left/right pairs are re-decoded where both heatmaps
    peak at one point (:func:`posekit.codecs.partners.separate_partners`; heatmap codecs only),
    from a zoo record's ``"separate_partners": ["left_knee"]``.

    The estimator runs ``inference_model``: a copy of ``model`` with each BatchNorm folded into the
    convolution before it (:func:`posekit.models.fold.fold_batchnorm`; same outputs, 12-18 % less forward
    time in bench/results/shipped_model.md) and cast to ``precision``, made when the estimator is built;
    ``model`` itself is never changed. Build a new estimator after changing ``model``'s weights.
    """

    def __init__(self, model: torch.nn.Module, codec, skeleton: Skeleton,
                 input_size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
                 box_padding: float = 1.25, flip_test: bool = False, batch_size: int = 32,
                 record: dict[str, Any] | None = None, separate_partners: Sequence[str] = (),
                 precision: str = "float32"):
        # channels-last is 10-25 % faster on CPU at batch 1 (bench/results/model_latency.md)
        self.model = model.eval().to(memory_format=torch.channels_last)
        inference = fold_batchnorm(self.model)
        param = next(self.model.parameters(), None)
        self.dtype = inference_dtype(precision, param.device if param is not None else torch.device("cpu"))
        if self.dtype != torch.float32:
            inference = (copy.deepcopy(inference) if inference is self.model else inference).to(self.dtype)
        self.inference_model = inference.to(memory_format=torch.channels_last)
        self.precision = precision
        self.codec = codec
        self.skeleton = skeleton
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.mean, self.std = tuple(mean), tuple(std)
        self.box_padding = box_padding
        self.flip_test = flip_test
        self.batch_size = batch_size
        self.record = record or {}
        self.separate_partners = tuple(separate_partners)

    def __call__(self, image: str | Path | np.ndarray, boxes: np.ndarray | None = None,
                 box_scores: np.ndarray | None = None) -> PoseResult:
        """Estimate the poses of the people in ``boxes`` (``(N, 4)`` xyxy, image pixels).

        ``image`` is a path or an RGB uint8 array ``(H, W, 3)``. Without ``boxes`` the whole
        image is one person box.
        """
        return self.predict_many([image], None if boxes is None else [boxes],
                                 None if box_scores is None else [box_scores])[0]

    def predict_many(self, images: Sequence[str | Path | np.ndarray],
                     boxes: Sequence[np.ndarray | None] | None = None,
                     box_scores: Sequence[np.ndarray | None] | None = None) -> list[PoseResult]:
        """Like ``__call__`` for several images; crops of all images share batches."""
        arrays = [read_rgb(im) if isinstance(im, (str, Path)) else np.asarray(im) for im in images]
        crops, matrices, owners, all_boxes, all_scores = [], [], [], [], []
        for n, img in enumerate(arrays):
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"image {n}: expected RGB uint8 (H, W, 3), got {img.dtype} {img.shape}")
            b = None if boxes is None else boxes[n]
            if b is None:
                h, w = img.shape[:2]
                b = np.array([[0, 0, w - 1, h - 1]], np.float32)
            b = np.asarray(b, np.float32).reshape(-1, 4)
            s = np.ones(len(b), np.float32) if box_scores is None or box_scores[n] is None \
                else np.asarray(box_scores[n], np.float32).reshape(-1)
            centers, sizes = box_to_center_size(b, self.input_size[0] / self.input_size[1], self.box_padding)
            for c, sz in zip(centers, sizes):
                m = crop_affine(c, sz, self.input_size)
                crops.append(warp(img, m, self.input_size))
                matrices.append(m)
                owners.append(n)
            all_boxes.append(b)
            all_scores.append(s)
        kps, scores = self._predict_crops(crops)
        if matrices:
            kps = apply_affine(kps, invert_affine(np.stack(matrices))).astype(np.float32)
        owners_arr = np.asarray(owners, int)
        results = []
        for n in range(len(arrays)):
            sel = owners_arr == n
            k_n, s_n = kps[sel], scores[sel]
            inst = all_scores[n] * (s_n.mean(axis=1) if len(s_n) else 1.0)
            results.append(PoseResult(k_n.reshape(-1, self.skeleton.num_keypoints, 2),
                                      s_n.reshape(-1, self.skeleton.num_keypoints),
                                      all_boxes[n], inst.astype(np.float32), self.skeleton))
        return results

    @property
    def device(self) -> torch.device:
        """Where the inference model's parameters live (crops are sent there)."""
        param = next(self.inference_model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @torch.inference_mode()
    def _predict_crops(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Crops ``(N, h, w, 3)`` -> keypoints ``(N, K, 2)`` in crop pixels and scores ``(N, K)``."""
        k = self.skeleton.num_keypoints
        if not crops:
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        kps_out, score_out = [], []
        for start in range(0, len(crops), self.batch_size):
            batch = np.stack(crops[start:start + self.batch_size])
            x = torch.from_numpy(normalize_image(batch, self.mean, self.std)).to(self.device, self.dtype).contiguous(
                memory_format=torch.channels_last)
            if self.flip_test:  # average the raw outputs (heatmaps or coordinates), then decode once
                # one forward pass over crops and mirrored crops: on 2 CPU threads a batch of 2 takes
                # about 0.7x the time of two batches of 1 (bench/results/shipped_model.md; eval mode, so
                # no batch coupling)
                outputs, mirrored = self.inference_model(torch.cat([x, torch.flip(x, dims=[3])])).float().split(len(x))
                outputs = (outputs + self.codec.flip_back(mirrored, self.skeleton.flip_indices)) / 2
            else:
                outputs = self.inference_model(x).float()
            kps, scores = self.codec.decode(outputs)
            if self.separate_partners:
                kps, scores = separate_partners(outputs, kps, scores, self.codec, self.skeleton, self.separate_partners)
            kps_out.append(np.asarray(kps, np.float32))
            score_out.append(np.asarray(scores, np.float32))
        return np.concatenate(kps_out), np.concatenate(score_out)


def read_record(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read model record ({err})") from None


def estimator_from_record(record: dict[str, Any], weights: str | Path | None,
                          flip_test: bool | None = None, precision: str | None = None) -> TopDownEstimator:
    """Build the model described by ``record`` (see ``posekit/weights/*.json``) and load ``weights``.

    ``flip_test=None`` takes the record's ``"flip_test"`` (default false); ``precision=None`` the
    record's ``"precision"`` (default ``"float32"``).
    """
    from posekit.models.checkpoints import load_checkpoint
    from posekit.models.zoo import build_model

    skeleton = get_skeleton(record["skeleton"])
    model = build_model(record["arch"], num_keypoints=skeleton.num_keypoints, **record.get("arch_kwargs", {}))
    if weights is not None:
        load_checkpoint(model, weights, strict=True)
    codec_spec = dict(record["codec"])
    if getattr(model, "output_kind", "heatmap") == "regression":
        codec_spec = {"type": "regression"} if "type" not in codec_spec else codec_spec
    heatmap_size = record.get("heatmap_size")
    if heatmap_size is None and codec_spec.get("type", "heatmap") == "heatmap":
        heatmap_size = [n // int(model.stride) for n in record["input_size"]]
    codec = build_codec(codec_spec, tuple(record["input_size"]),
                        tuple(heatmap_size) if heatmap_size is not None else None)
    norm = record["normalization"]
    return TopDownEstimator(model, codec, skeleton, tuple(record["input_size"]), norm["mean"], norm["std"],
                            box_padding=record.get("box_padding", 1.25),
                            flip_test=bool(record.get("flip_test", False)) if flip_test is None else flip_test,
                            record=record,
                            separate_partners=record.get("separate_partners", ()),
                            precision=record.get("precision", "float32") if precision is None else precision)


def load_topdown(name_or_checkpoint: str | Path, weights: str | Path | None = None,
                 flip_test: bool | None = None, precision: str | None = None) -> TopDownEstimator:
    """Resolve a zoo name, a checkpoint directory or a weights file into an estimator.

    - a directory written by ``posekit train`` (``record.json`` + ``model.safetensors``);
    - a ``.safetensors`` file with a ``record.json`` (or ``<stem>.json``) beside it;
    - a shipped zoo name (``posekit/weights/<name>.json``);
    - an architecture name of ``posekit.models.zoo`` (COCO 256x192 defaults), typically with
      ``weights=`` an official checkpoint.

    ``flip_test`` (true or false) and ``precision`` (``"float32"``, ``"bfloat16"``, ``"auto"``)
    override the record's choices; ``None`` keeps them.
    """
    from posekit.models.zoo import list_models

    path = Path(name_or_checkpoint)
    if path.is_dir():
        record = read_record(path / "record.json")
        return estimator_from_record(record, weights or path / "model.safetensors", flip_test, precision)
    if path.is_file():
        for candidate in (path.with_suffix(".json"), path.parent / "record.json"):
            if candidate.is_file():
                return estimator_from_record(read_record(candidate), weights or path, flip_test, precision)
        raise ValueError(f"{path}: no model record (record.json or {path.with_suffix('.json').name}) beside it")
    name = str(name_or_checkpoint)
    shipped = WEIGHTS_DIR / f"{name}.json"
    if shipped.is_file():
        record = read_record(shipped)
        return estimator_from_record(record, weights or WEIGHTS_DIR / record["weights"], flip_test, precision)
    if name in list_models():
        if weights is None:
            warnings.warn(f"posekit.load({name!r}): no weights given, the model is randomly initialised",
                          stacklevel=2)
        return estimator_from_record({**DEFAULT_RECORD, "arch": name}, weights, flip_test, precision)
    known = sorted(p.stem for p in WEIGHTS_DIR.glob("*.json")) + sorted(list_models())
    raise ValueError(f"unknown model {name!r}: not a file, directory or zoo name; known: {', '.join(known)}")
