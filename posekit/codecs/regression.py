"""Coordinate regression codec: keypoints in crop pixels <-> coordinates normalised to the crop.

Conventions (shared by every regression model, see ``posekit.models.zoo``): pixel centres are at
integer coordinates (the ``cv2.warpAffine`` convention of :mod:`posekit.codecs.heatmap`), so a
crop of ``(w, h)`` pixels spans ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``. Normalised coordinates are

    u = (x + 0.5) / w,    v = (y + 0.5) / h,

so the crop spans exactly ``[0, 1] x [0, 1]`` (``u = 0`` is the left edge of the left pixel,
``u = 1`` the right edge of the right pixel; the same frame as ``torch.nn.functional.grid_sample``
with ``align_corners=False`` after ``g = 2u - 1``). Decoding inverts it, ``x = u * w - 0.5``.

Targets are the normalised coordinates with a weight per keypoint: 0 for an unlabelled keypoint
(COCO ``v == 0``), non-finite coordinates, or a keypoint outside the crop (the borders are
inside); those get coordinates 0. Scores: none of posekit's regression models (DeepPose,
TFPose) predicts a confidence, so :meth:`RegressionCodec.decode` returns a score of 1.0 for
every keypoint and accepts only ``(..., K, 2)`` outputs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RegressionCodec"]


def _as_numpy(array: Any) -> np.ndarray:
    """float32 numpy copy of a numpy array or a torch tensor (any device, any float dtype)."""
    if hasattr(array, "detach"):  # torch.Tensor
        array = array.detach().to("cpu").float().numpy()
    return np.asarray(array, dtype=np.float32)


class RegressionCodec:
    """Encode keypoints as normalised crop coordinates and decode model outputs back to pixels.

    Args:
        input_size: ``(width, height)`` of the network input crop in pixels.
    """

    def __init__(self, *, input_size: tuple[int, int]) -> None:
        try:
            width, height = (int(v) for v in input_size)
        except (TypeError, ValueError):
            raise ValueError(
                f"RegressionCodec: field 'input_size' must be (width, height), got {input_size!r}"
            ) from None
        if width < 1 or height < 1:
            raise ValueError(
                f"RegressionCodec: field 'input_size' must be (width, height) >= 1, got {tuple(input_size)}"
            )
        self.input_size = (width, height)
        self._size = np.array(self.input_size, dtype=np.float64)

    def __repr__(self) -> str:
        return f"RegressionCodec(input_size={self.input_size})"

    def encode(self, keypoints: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Targets for ``keypoints (..., K, 2)`` (x, y in crop pixels) and ``visibility (..., K)`` (COCO codes).

        Returns ``(coords float32 (..., K, 2) = ((x + 0.5) / w, (y + 0.5) / h), weights float32 (..., K))``;
        weight 0 (and coords 0) where ``v == 0``, a coordinate is not finite, or the keypoint lies
        outside ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``; weight 1 elsewhere.
        """
        kp = np.asarray(keypoints, dtype=np.float64)
        vis = np.asarray(visibility)
        if kp.ndim < 2 or kp.shape[-1] != 2 or vis.shape != kp.shape[:-1]:
            raise ValueError(
                f"RegressionCodec.encode: keypoints {kp.shape} must be (..., K, 2) and visibility "
                f"{vis.shape} must be (..., K)"
            )
        with np.errstate(invalid="ignore"):
            coords = (kp + 0.5) / self._size
            inside = ((coords >= 0.0) & (coords <= 1.0)).all(axis=-1)
        valid = (vis > 0) & np.isfinite(kp).all(axis=-1) & inside
        coords = np.where(valid[..., None], coords, 0.0)
        return coords.astype(np.float32), valid.astype(np.float32)

    def decode(self, outputs: np.ndarray | Any) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from normalised ``outputs (..., K, 2)`` (numpy or torch, any device), e.g. ``(B, K, 2)``.

        Returns ``(keypoints float32 (..., K, 2) in crop pixels, x = u * w - 0.5, y = v * h - 0.5;
        scores float32 (..., K), all 1.0)``. Coordinates outside ``[0, 1]`` are decoded as they are
        (outside the crop), not clipped.
        """
        coords = _as_numpy(outputs)
        if coords.ndim < 2 or coords.shape[-1] != 2:
            raise ValueError(
                f"RegressionCodec.decode: outputs {coords.shape} must be (..., K, 2) normalised coordinates"
            )
        keypoints = coords.astype(np.float64) * self._size - 0.5
        return keypoints.astype(np.float32), np.ones(coords.shape[:-1], dtype=np.float32)

    def flip_back(self, outputs: Any, flip_indices: Any) -> Any:
        """Normalised coordinates ``(..., K, 2)`` predicted for the horizontally mirrored crop ->
        coordinates in the crop itself (numpy or torch, returned as the same type).

        Crop pixel ``x`` mirrors to ``w - 1 - x``, which is ``u -> 1 - u`` in normalised
        coordinates; partners are swapped with ``flip_indices (K,)`` (``Skeleton.flip_indices``).
        """
        if outputs.ndim < 2 or outputs.shape[-1] != 2 or outputs.shape[-2] != len(flip_indices):
            raise ValueError(f"RegressionCodec.flip_back: outputs {tuple(outputs.shape)} must be "
                             f"(..., {len(flip_indices)}, 2)")
        mirrored = outputs[..., [int(j) for j in flip_indices], :] * 1  # a copy, numpy or torch
        mirrored[..., 0] = 1 - mirrored[..., 0]
        return mirrored
