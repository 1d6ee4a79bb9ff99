"""Codecs: annotations <-> network targets/outputs.

A recipe's or model record's ``codec`` mapping selects the codec with ``type``:
``heatmap`` (default; :class:`~posekit.codecs.heatmap.HeatmapCodec`) or ``regression``
(:class:`~posekit.codecs.regression.RegressionCodec`, normalised coordinates).
"""
from __future__ import annotations

from typing import Any


def build_codec(spec: dict[str, Any], input_size: tuple[int, int],
                heatmap_size: tuple[int, int] | None = None):
    """The codec described by ``spec`` (a recipe's ``codec`` mapping) for crops of ``input_size`` (w, h)."""
    options = {k: v for k, v in spec.items() if k != "type"}
    kind = spec.get("type", "heatmap")
    if kind == "heatmap":
        from posekit.codecs.heatmap import HeatmapCodec

        if heatmap_size is None:
            raise ValueError("codec type 'heatmap' needs a heatmap_size")
        return HeatmapCodec(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size), **options)
    if kind == "regression":
        from posekit.codecs.regression import RegressionCodec

        return RegressionCodec(input_size=tuple(input_size), **options)
    raise ValueError(f"codec: field 'type' must be 'heatmap' or 'regression', got {kind!r}")
