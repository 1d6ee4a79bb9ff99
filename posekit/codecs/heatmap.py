"""Gaussian heatmap codec: MSRA and UDP targets; argmax, quarter-offset and DARK decoding.

Coordinates are continuous pixel coordinates of the network's input crop, pixel centres at
integers (the ``cv2.warpAffine`` convention); heatmap cells likewise have their centres at
integer heatmap coordinates. With ``s = heatmap_size / input_size`` per axis:

- **MSRA** (``unbiased=False``; Xiao et al. ECCV 2018 "Simple Baselines", Sun et al. CVPR
  2019 HRNet): the Gaussian is centred on the nearest cell, ``floor(x_in * s + 0.5)``
  (``int(x / stride + 0.5)`` for in-crop points); decoding maps ``x_in = x_hm * stride`` with
  ``stride = input / heatmap``. The rounding quantises targets to the cell grid, so no
  decoder recovers more than the cell.
- **UDP** (``unbiased=True``; Huang et al. CVPR 2020, "The Devil is in the Details: Delving
  into Unbiased Data Processing"): ``x_hm = x_in * (heatmap - 1) / (input - 1)``, the Gaussian
  centred at the exact sub-cell position; decoding maps ``x_in = x_hm * (input - 1) / (heatmap - 1)``.
  The first and last pixel centres map onto the first and last cell centres, so a horizontal
  flip of the input is an exact flip of the heatmap.

Targets are unnormalised Gaussians (peak 1 at the centre) truncated to cells within
``3 * sigma`` of the centre on each axis, as in the MSRA reference implementation.

Round-trip bounds, ``max |decode(encode(x)) - x|`` per axis, for any keypoint inside the crop
(``0 <= x <= input - 1``), in heatmap cells (times ``stride`` or ``(input-1)/(heatmap-1)`` for
input pixels). Measured on 20,000 random points for each of 192x256 -> 48x64, 256x256 -> 64x64,
288x384 -> 72x96, sigma 0.75-4, default ``dark_kernel``; ``tests/test_codecs_heatmap.py``
checks them with hypothesis:

========  ===============  ===========================================================
encode    decode           bound (cells)
========  ===============  ===========================================================
MSRA      argmax, quarter  0.5; in the last ``stride / 2`` px of the crop, whose nearest
                           cell lies outside the map, ``1 - 1/stride`` (3 px at stride 4).
                           Quarter never moves: MSRA targets are symmetric about a cell.
MSRA      dark             0.5
UDP       argmax           0.5
UDP       quarter          0.25; 0.5 where the nearest cell is on the heatmap border
UDP       dark             0.01 (measured max 0.0077 at sigma 0.75, 0.0006 at sigma 2,
                           mean 0.0009 px at sigma 2, 192x256 -> 48x64)
========  ===============  ===========================================================
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HeatmapCodec", "DECODE_MODES"]

DECODE_MODES = ("argmax", "quarter", "dark")

# DARK log floor (Zhang et al.'s reference clips the blurred map at 1e-10 before the log).
_LOG_FLOOR = 1e-10


def _as_numpy(array: Any) -> np.ndarray:
    """numpy view of a numpy array or a torch tensor (any device), without importing torch."""
    if hasattr(array, "detach"):  # torch.Tensor
        array = array.detach().to("cpu").float().numpy()
    return np.asarray(array, dtype=np.float32)


def _size_pair(value: Any, field: str) -> tuple[int, int]:
    width, height = (int(v) for v in value)
    if width < 3 or height < 3:
        raise ValueError(f"HeatmapCodec: field {field!r} must be (width, height) >= 3, got {tuple(value)}")
    return width, height


def _shift_cells(maps: Any, cells: int) -> Any:
    """``out[..., x] = maps[..., x + cells]`` along the last axis, zeros past the ends (numpy or torch)."""
    width = maps.shape[-1]
    out = maps * 0
    if abs(cells) < width:
        if cells >= 0:
            out[..., :width - cells] = maps[..., cells:]
        else:
            out[..., -cells:] = maps[..., :width + cells]
    return out


class HeatmapCodec:
    """Encode keypoints as Gaussian heatmaps and decode heatmaps back to keypoints.

    Args:
        input_size: ``(width, height)`` of the network input crop in pixels.
        heatmap_size: ``(width, height)`` of the output heatmaps.
        sigma: Gaussian standard deviation in heatmap cells.
        unbiased: ``False``: MSRA targets on the nearest cell, ``x_in = x_hm * stride``;
            ``True``: UDP targets at the exact position, ``x_in = x_hm * (in - 1) / (hm - 1)``.
        decode_mode: ``"argmax"``; ``"quarter"``: argmax then a 0.25-cell shift towards the
            higher neighbour on each axis (the SimpleBaseline/HRNet decode); ``"dark"``:
            Zhang et al. CVPR 2020 "Distribution-Aware Coordinate Representation", a
            second-order Taylor expansion of the blurred log-heatmap at the argmax.
        dark_kernel: odd size of the DARK Gaussian blur kernel; its sigma follows OpenCV's
            rule for a size ``k``, ``0.3 * ((k - 1) / 2 - 1) + 0.8`` (2.3 for 11).
        input_offset: input-crop pixel of heatmap position 0, added after the scaling above
            (``x_in = x_hm * stride + input_offset``; encode subtracts it first). 0 for posekit's
            own recipes; the princeton-vl Stacked Hourglass weights were trained with cell ``k``
            at input pixel ``4k + 1.5`` (``PRINCETON_RECORD``).
    """

    def __init__(
        self,
        *,
        input_size: tuple[int, int] = (192, 256),
        heatmap_size: tuple[int, int] = (48, 64),
        sigma: float = 2.0,
        unbiased: bool = False,
        decode_mode: str = "quarter",
        dark_kernel: int = 11,
        input_offset: float = 0.0,
    ) -> None:
        self.input_size = _size_pair(input_size, "input_size")
        self.heatmap_size = _size_pair(heatmap_size, "heatmap_size")
        if not sigma > 0:
            raise ValueError(f"HeatmapCodec: field 'sigma' must be > 0, got {sigma}")
        if decode_mode not in DECODE_MODES:
            raise ValueError(f"HeatmapCodec: field 'decode_mode' must be one of {DECODE_MODES}, got {decode_mode!r}")
        if dark_kernel < 3 or dark_kernel % 2 == 0:
            raise ValueError(f"HeatmapCodec: field 'dark_kernel' must be odd and >= 3, got {dark_kernel}")
        self.sigma = float(sigma)
        self.unbiased = bool(unbiased)
        self.decode_mode = decode_mode
        self.dark_kernel = int(dark_kernel)
        if not np.isfinite(input_offset):
            raise ValueError(f"HeatmapCodec: field 'input_offset' must be finite, got {input_offset}")
        self.input_offset = float(input_offset)
        inp = np.array(self.input_size, dtype=np.float64)
        hm = np.array(self.heatmap_size, dtype=np.float64)
        #: ``(2,)`` heatmap cells per input pixel (x, y): ``x_hm = x_in * scale``.
        self.scale = (hm - 1) / (inp - 1) if self.unbiased else hm / inp
        #: cells between a mirrored crop's reversed heatmap and the crop's own (see :meth:`flip_back`).
        self.flip_shift = float((hm[0] - 1) - (inp[0] - 1 - 2 * self.input_offset) * self.scale[0])

    def __repr__(self) -> str:
        return (
            f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
            f"sigma={self.sigma}, unbiased={self.unbiased}, decode_mode={self.decode_mode!r}, "
            f"dark_kernel={self.dark_kernel}, input_offset={self.input_offset})"
        )

    def encode(self, keypoints: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heatmap targets for ``keypoints (..., K, 2)`` (x, y in input-crop pixels).

        ``visibility (..., K)``: COCO codes; ``v == 0`` (unlabelled) gets weight 0 and an all-zero
        heatmap, as does a keypoint whose truncated Gaussian has no cell inside the heatmap or
        whose coordinates are not finite. Returns ``(heatmaps float32 (..., K, h, w),
        weights float32 (..., K))`` with weights 1 elsewhere.
        """
        kp = np.asarray(keypoints, dtype=np.float64)
        vis = np.asarray(visibility)
        if kp.ndim < 2 or kp.shape[-1] != 2 or vis.shape != kp.shape[:-1]:
            raise ValueError(
                f"HeatmapCodec.encode: keypoints {kp.shape} must be (..., K, 2) and visibility "
                f"{vis.shape} must be (..., K)"
            )
        width, height = self.heatmap_size
        centre = (kp - self.input_offset) * self.scale
        if not self.unbiased:
            centre = np.floor(centre + 0.5)
        valid = (vis > 0) & np.isfinite(centre).all(axis=-1)
        centre = np.where(valid[..., None], centre, 0.0)
        radius = 3.0 * self.sigma
        dx = np.arange(width) - centre[..., 0:1]  # (..., K, w)
        dy = np.arange(height) - centre[..., 1:2]  # (..., K, h)
        gx = np.where(np.abs(dx) <= radius, np.exp(-dx**2 / (2 * self.sigma**2)), 0.0)
        gy = np.where(np.abs(dy) <= radius, np.exp(-dy**2 / (2 * self.sigma**2)), 0.0)
        weights = valid & (gx > 0).any(axis=-1) & (gy > 0).any(axis=-1)
        gx = (gx * weights[..., None]).astype(np.float32)
        heatmaps = gy.astype(np.float32)[..., :, None] * gx[..., None, :]
        return heatmaps, weights.astype(np.float32)

    def decode(self, heatmaps: np.ndarray | Any) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from ``heatmaps (..., K, h, w)`` (numpy or torch, any device).

        Returns ``(keypoints float32 (..., K, 2) in input-crop pixels, scores float32 (..., K))``;
        the score is the heatmap maximum. The argmax is the first maximum in row-major order.
        Quarter shifts an axis only where the argmax has a neighbour on both sides. DARK
        (see :meth:`_dark_peaks`) blurs only a window of ``dark_kernel + 2`` cells around each
        argmax, all maps at once. DARK's reference implementation rescales the blurred map to
        the original maximum; that adds a constant to the log-map and does not change the
        peak, so it is left out.
        """
        hm = _as_numpy(heatmaps)
        width, height = self.heatmap_size
        if hm.ndim < 2 or hm.shape[-2:] != (height, width):
            raise ValueError(f"HeatmapCodec.decode: heatmaps {hm.shape} must be (..., {height}, {width})")
        lead = hm.shape[:-2]
        maps = hm.reshape(-1, height, width)
        flat = maps.reshape(len(maps), -1)
        arg = flat.argmax(axis=1)
        rows = np.arange(len(maps))
        scores = flat[rows, arg]
        py, px = np.divmod(arg, width)
        coords = np.stack([px, py], axis=-1).astype(np.float64)
        if self.decode_mode == "quarter":
            coords += self._quarter_offsets(maps, px, py)
        elif self.decode_mode == "dark":
            coords = self._dark_peaks(maps, px, py)
        keypoints = coords / self.scale + self.input_offset
        return keypoints.astype(np.float32).reshape(*lead, 2), scores.reshape(lead)

    def flip_back(self, heatmaps: Any, flip_indices: Any) -> Any:
        """Heatmaps predicted for the horizontally mirrored crop -> heatmaps of the crop itself.

        ``heatmaps (B, K, h, w)``, numpy or torch (returned as the same type, on the same
        device); ``flip_indices (K,)``: the joint each joint becomes under mirroring
        (``Skeleton.flip_indices``). Mirroring swaps the partners and reverses the cell axis.
        Crop pixel ``x`` mirrors to ``W - 1 - x``; under ``x_hm = (x_in - input_offset) * scale``
        the reversed axis then sits ``flip_shift = (w - 1) - (W - 1 - 2 * input_offset) * scale``
        cells from the crop's own: 0 under UDP and for the princeton-vl record (cell k at pixel
        4k + 1.5), -0.75 for MSRA at stride 4, which SimpleBaseline's reference rounds to a
        whole cell. Here the maps are resampled by the exact shift, linearly, zeros outside.
        The top-down flip test averages the result with the crop's own heatmaps before decoding.
        """
        width = self.heatmap_size[0]
        if heatmaps.ndim != 4 or heatmaps.shape[-1] != width or heatmaps.shape[1] != len(flip_indices):
            raise ValueError(f"HeatmapCodec.flip_back: heatmaps {tuple(heatmaps.shape)} must be "
                             f"(B, {len(flip_indices)}, h, {width})")
        maps = heatmaps[:, [int(j) for j in flip_indices]][..., list(range(width - 1, -1, -1))]
        if abs(self.flip_shift) < 1e-9:
            return maps
        whole = int(np.floor(self.flip_shift))
        frac = self.flip_shift - whole
        return (1 - frac) * _shift_cells(maps, whole) + frac * _shift_cells(maps, whole + 1)

    def _quarter_offsets(self, maps: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """``(M, 2)`` offsets of +-0.25 cell towards the higher neighbour on each axis."""
        height, width = maps.shape[1:]
        rows = np.arange(len(maps))
        diff_x = maps[rows, py, np.minimum(px + 1, width - 1)] - maps[rows, py, np.maximum(px - 1, 0)]
        diff_y = maps[rows, np.minimum(py + 1, height - 1), px] - maps[rows, np.maximum(py - 1, 0), px]
        inner_x = (px > 0) & (px < width - 1)
        inner_y = (py > 0) & (py < height - 1)
        return 0.25 * np.stack([np.sign(diff_x) * inner_x, np.sign(diff_y) * inner_y], axis=-1)

    def _dark_peaks(self, maps: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """``(M, 2)`` DARK peak positions (heatmap cells) from the argmax ``(px, py)``.

        Newton step ``-H^{-1} grad`` of the blurred log-map, with central differences on the
        3x3 stencil at the argmax (moved one cell inwards where the argmax is on the border:
        the quadratic model gives the same vertex from any stencil near the peak). Each axis
        is blurred with a Gaussian of radius ``min(dark_kernel // 2, distance from the stencil
        to the border)``, so no blur reads past the border: zero-padding there biases the
        peak towards the interior (up to 0.8 cell at sigma 2, measured). Where the Hessian is
        not negative definite the argmax is kept; the result is clipped to within one cell of
        the argmax.
        """
        height, width = maps.shape[1:]
        reach = self.dark_kernel // 2
        sx, sy = np.clip(px, 1, width - 2), np.clip(py, 1, height - 2)
        taps = np.arange(-reach, reach + 1)
        bands = []
        for centre, size in ((sy, height), (sx, width)):
            radius = np.minimum(np.minimum(centre - 1, size - 2 - centre), reach)  # (M,)
            # OpenCV's sigma for an odd kernel size k: 0.3 * ((k - 1) / 2 - 1) + 0.8.
            kernel_sigma = 0.3 * (radius - 1) + 0.8
            kernel = np.exp(-(taps**2) / (2 * kernel_sigma[:, None] ** 2)) * (np.abs(taps) <= radius[:, None])
            kernel /= kernel.sum(axis=1, keepdims=True)
            band = np.zeros((len(maps), 3, 2 * reach + 3))  # band[m, a, a + t] = kernel[m, t]
            for a in range(3):
                band[:, a, a:a + 2 * reach + 1] = kernel
            bands.append(band)
        band_y, band_x = bands
        span = np.arange(-reach - 1, reach + 2)
        window = maps[
            np.arange(len(maps))[:, None, None],
            np.clip(sy[:, None] + span, 0, height - 1)[:, :, None],
            np.clip(sx[:, None] + span, 0, width - 1)[:, None, :],
        ].astype(np.float64)
        blurred = band_y @ window @ band_x.transpose(0, 2, 1)  # (M, 3, 3), [row, col]
        log = np.log(np.maximum(blurred, _LOG_FLOOR))
        dx = 0.5 * (log[:, 1, 2] - log[:, 1, 0])
        dy = 0.5 * (log[:, 2, 1] - log[:, 0, 1])
        dxx = log[:, 1, 2] - 2 * log[:, 1, 1] + log[:, 1, 0]
        dyy = log[:, 2, 1] - 2 * log[:, 1, 1] + log[:, 0, 1]
        dxy = 0.25 * (log[:, 2, 2] - log[:, 2, 0] - log[:, 0, 2] + log[:, 0, 0])
        det = dxx * dyy - dxy**2
        usable = (dxx < 0) & (det > 1e-12)  # negative definite: a maximum
        safe_det = np.where(usable, det, 1.0)
        peak_x = sx - (dyy * dx - dxy * dy) / safe_det
        peak_y = sy - (dxx * dy - dxy * dx) / safe_det
        peaks = np.stack([np.clip(peak_x, px - 1, px + 1), np.clip(peak_y, py - 1, py + 1)], axis=-1)
        return np.where(usable[:, None], peaks, np.stack([px, py], axis=-1))
