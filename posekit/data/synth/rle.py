"""COCO run-length encoding of binary masks, in NumPy (no pycocotools dependency).

Format (COCO ``maskApi``): runs are counted over the mask flattened in column-major
(Fortran) order, alternating 0-runs and 1-runs and starting with a 0-run (possibly empty).
The compressed string stores each count, from the third on as the difference to the count
two places earlier, as little-endian groups of 5 bits; each group is written as
``chr(48 + bits)`` with bit 0x20 set when more groups follow, and the sign carried by 0x10
of the last group.
"""
from __future__ import annotations

import numpy as np


def mask_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO run lengths of a (H, W) boolean mask."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return counts


def counts_to_string(counts: list[int]) -> str:
    """Compress run lengths to the COCO RLE string."""
    out = []
    for i, c in enumerate(counts):
        x = int(c) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            group = x & 0x1F
            x >>= 5
            more = (x != -1) if (group & 0x10) else (x != 0)
            if more:
                group |= 0x20
            out.append(chr(group + 48))
    return "".join(out)


def string_to_counts(s: str) -> list[int]:
    """Inverse of :func:`counts_to_string`."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            group = ord(s[p]) - 48
            x |= (group & 0x1F) << (5 * k)
            more = bool(group & 0x20)
            p += 1
            k += 1
            if not more and (group & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode(mask: np.ndarray) -> dict:
    """COCO compressed RLE ``{"size": [H, W], "counts": str}`` of a (H, W) boolean mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts_to_string(mask_counts(mask))}


def decode(rle: dict) -> np.ndarray:
    """(H, W) boolean mask from a COCO RLE dict (compressed string or list of counts)."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = string_to_counts(counts)
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    if flat.size != h * w:
        raise ValueError(f"RLE counts sum to {flat.size}, expected {h}x{w} = {h * w}")
    return flat.reshape((w, h)).T
