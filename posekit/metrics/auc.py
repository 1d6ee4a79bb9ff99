"""Area under a PCK curve, as the MPII and LSP/FLIC evaluators compute it.

The official MPII MATLAB (``evaluatePCKh.m``) and Wei Yang's LSP/FLIC ``eval_pck.m`` call
``area_under_curve(scale01(range), pck)``: ``quadgk`` over the linear interpolant of the curve
against the thresholds rescaled to ``[0, 1]``. The integral of a piecewise-linear interpolant is
exactly the trapezoid rule on the sampled points (REFERENCE-METRICS-FORMATS.md A2.1), which is
what :func:`normalized_auc` computes. The result is in the curve's own units (percent in, percent
out).
"""
from __future__ import annotations

import numpy as np

__all__ = ["normalized_auc", "threshold_range"]


def threshold_range(stop: float, step: float = 0.01) -> np.ndarray:
    """Thresholds ``0:step:stop`` as MATLAB writes them, ``(T,)`` float64.

    Each value is the double nearest the decimal ``i * step`` (so ``0.11`` is the literal 0.11,
    not ``11 * 0.01``), which matters only for errors lying exactly on a threshold.
    """
    count = int(round(stop / step)) + 1
    return np.array([float(f"{i * step:.10g}") for i in range(count)])


def normalized_auc(thresholds: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Trapezoid area under ``values`` against ``thresholds`` rescaled to ``[0, 1]``.

    ``thresholds``: ``(T,)`` increasing, ``T >= 2``; ``values``: ``(T, ...)``; returns ``values``
    without its first axis (a 0-d array for a single curve). A NaN anywhere in a curve gives NaN.
    """
    t = np.asarray(thresholds, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
        raise ValueError(f"auc: thresholds must be (T,) increasing with T >= 2, got {t.tolist()}")
    if v.shape[:1] != t.shape:
        raise ValueError(f"auc: values must be (T, ...) with T = {t.size}, got {v.shape}")
    x = (t - t[0]) / (t[-1] - t[0])
    widths = np.diff(x).reshape((-1,) + (1,) * (v.ndim - 1))
    return np.sum(widths * (v[1:] + v[:-1]) / 2.0, axis=0)
