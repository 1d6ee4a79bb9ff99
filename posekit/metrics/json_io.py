"""Fast, exact reading of large COCO JSON files: keypoint results and ground truth.

``json.load`` spends about 300 ns per number on a results file (one Python float object each),
which is most of the time of a COCO evaluation once the matching is vectorised. This module
reads the common layout -- a JSON list of flat objects whose values are numbers or flat arrays
of numbers, keys made of letters and ``_`` -- with a handful of whole-buffer byte operations and
one integer parse per chunk of about 8 MB, and falls back to ``json`` for anything else. The
values are *exactly* the floats ``json`` produces (correctly rounded decimal -> binary64), so an
evaluation gives bit-identical results either way.

How the fast path works (:func:`read_fields`), on the raw bytes of a chunk of whole records:

1. *Skeleton*: deleting digits, signs and whitespace leaves, per record, a string such as
   ``{"image_id":,"category_id":,"keypoints":[.,.,.],"score":.}``. Distinct skeletons
   ("templates") are few; each one is validated and tells how many integer tokens each value
   produces and where each field's tokens sit. Records whose template is unusual (exponents,
   strings, ``null``, nested values, keys spelt with digits) are decoded one by one with
   ``json``; too many of them, and the whole file goes to ``json``.
2. *Numbers*: every ``.`` becomes ``1,1`` and every structural byte a space, so
   ``-407.0561`` reads as the two integers ``-4071`` and ``10561``. The first carries the sign
   even for ``-0.x`` and the integer part ``(|i| - 1) / 10``; the second carries the number of
   decimals ``F`` (its digit count minus one, leading zeros kept by the ``1``) and the decimal
   fraction. One ``numpy.fromstring(..., int64, sep=",")`` parses them all; it raises on two
   numbers in one value, and a value holding only whitespace (which numpy reads as 0) is looked
   for whenever a 0 was read. Either sends the file to ``json``, which reports the error.
3. *Decimal -> binary*: the value is ``m / 10**F`` with the integer mantissa ``m``. When
   ``m < 2**53`` one float64 division of two exact operands is correctly rounded (Clinger's fast
   path). Larger mantissas are divided in x87 extended precision (64-bit significand, exact
   operands) and rounded to float64; that double rounding can only go wrong when the extended
   quotient lies exactly halfway between two doubles, which is detected and those few values are
   converted by Python's ``float`` from their reconstructed decimal text. Numbers with 19 or
   more digits send their record to ``json``.

A results file can also be read as windows of whole records (:func:`results_split_offset`,
:func:`read_results_window`, :func:`results_from_windows`), so that two processes share one file.

Ground-truth files are objects whose lists carry much more than an evaluation reads (masks, 3D
joints, body parameters); :func:`json_object_values` cuts out the needed fields without parsing
the rest, and the same number reader decodes them.
"""
from __future__ import annotations

import gc
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CocoFormatError", "CocoResults", "Field", "join_columns", "json_object_values", "load_json",
           "read_coco_results", "read_fields", "read_results_window", "results_from_records", "results_from_windows",
           "results_split_offset"]


class CocoFormatError(ValueError):
    """A COCO file or object that cannot be evaluated; the message names file, record and field."""


def load_json(data: bytes, source: str) -> Any:
    """``json.loads`` with the cyclic garbage collector paused.

    json builds millions of lists and dicts, none of them in a cycle; with the collector on,
    its repeated full passes over the growing heap more than double the parse time of a large
    COCO file. Invalid JSON raises :class:`CocoFormatError` naming ``source``.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(data)
    except ValueError as exc:
        raise CocoFormatError(f"{source}: not valid JSON: {exc}") from None
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class CocoResults:
    """COCO keypoint results as arrays, one row per record in file order.

    - ``image_id``, ``category_id``: ``(N,)``; int64 when every id is an integer, else object.
    - ``keypoints``: ``(N, K, 2)`` float64 x, y as written (pixel coordinates of the file).
    - ``keypoint_scores``: ``(N, K)`` float64 third values, or ``None`` when not requested.
    - ``score``: ``(N,)`` float64 instance scores.
    - ``bbox``: ``(N, 4)`` float64 ``[x, y, w, h]``; rows of NaN where the record has no ``bbox``
      or an empty one (``has_bbox`` is False there).
    - ``source``: the file name (or ``"<results>"``) used in error messages.
    """

    image_id: np.ndarray
    category_id: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray | None
    score: np.ndarray
    bbox: np.ndarray
    has_bbox: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.score.shape[0])


# --------------------------------------------------------------------------------------------
# Pruning a large JSON object to the fields an evaluation reads.

_CLASSES = bytes({ord('"'): 1, ord("{"): 2, ord("}"): 3, ord("\\"): 4}.get(c, 0) for c in range(256))
_WS = (32, 9, 10, 13)


def _skip_ws(arr: np.ndarray, at: np.ndarray, step: int) -> np.ndarray:
    """Move each index forward (``step=1``) or back (``step=-1``) past whitespace (and, going
    back, commas) until a byte that is neither."""
    skip = _WS if step > 0 else _WS + (44,)
    at = at.copy()
    while True:  # one step per iteration for all indices: as many rounds as the longest run
        probe = at if step > 0 else at - 1
        inside = (probe >= 0) & (probe < arr.shape[0])
        hit = np.zeros(at.shape, dtype=bool)
        hit[inside] = np.isin(arr[probe[inside]], skip)
        if not hit.any():
            return at
        at[hit] += step


def _escapes(pos: np.ndarray, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From the marked positions (kind 4 = backslash): the backslash positions, and the
    positions of quotes escaped by an odd run of backslashes right before them."""
    slash = kind == 4
    slashes = pos[slash]
    if not slashes.size:
        return slashes, slashes
    # runs of consecutive backslashes: start where the previous byte is not one
    start = np.r_[True, np.diff(slashes) != 1]
    run_first = slashes[start]
    run_last = slashes[np.r_[start[1:], True]]
    run_len = run_last - run_first + 1
    quotes = pos[kind == 1]
    after = np.searchsorted(quotes, run_last + 1)
    hit = (after < quotes.shape[0]) & (quotes[np.minimum(after, quotes.shape[0] - 1)] == run_last + 1)
    escaped = quotes[after[hit & (run_len % 2 == 1)]]
    return slashes, escaped


def json_object_values(data: bytes, keep: dict) -> dict | None:
    """Text of the values of the top-level object of ``data`` that an evaluation reads.

    ``keep`` maps a top-level key to ``None`` (keep its value as is) or to a set of field names
    (the value is a list of objects; keep only those fields of each). Other top-level keys and
    fields are dropped *without being parsed or validated*: a COCO ground-truth file can carry far
    more data than the evaluation uses (3D joints, body parameters, masks) and ``json`` would
    spend most of its time and memory on it. Returns ``None`` when the layout is not one this
    handles (the caller then parses everything). Returns ``{key: value text}`` for the kept
    keys present.

    Method: one pass marks quotes and braces; quotes not escaped by an odd run of backslashes
    delimit strings; braces outside strings give the object nesting depth; a string followed by
    ``:`` is a key. Keys at the right depth and the braces of the records locate the kept
    values, whose text is copied verbatim.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    cls = np.frombuffer(data.translate(_CLASSES), dtype=np.uint8)
    pos = np.flatnonzero(cls)
    kind = cls[pos]
    slashes, escaped = _escapes(pos, kind)
    if slashes.size:
        drop = kind == 4
        if escaped.size:
            drop |= np.isin(pos, escaped)
        pos, kind = pos[~drop], kind[~drop]
    quote = kind == 1
    outside = quote | ~np.bitwise_xor.accumulate(quote)
    pos, kind, quote = pos[outside], kind[outside], quote[outside]
    qpos = pos[quote]
    if qpos.shape[0] % 2:
        return None
    opens, closes = qpos[0::2], qpos[1::2]
    bpos = pos[~quote]
    opening = kind[~quote] == 2
    if bpos.shape[0] < 2 or pos[0] != bpos[0] or _skip_ws(arr, np.array([0]), 1)[0] != bpos[0]:
        return None  # the document is not an object
    depth = np.cumsum(np.where(opening, 1, -1))
    if depth.min() < 0 or depth[-1] != 0 or (depth[:-1] == 0).any():
        return None
    str_depth = np.zeros(opens.shape[0], dtype=np.int64)
    before = np.searchsorted(bpos, opens) - 1
    str_depth[before >= 0] = depth[before[before >= 0]]
    after = _skip_ws(arr, closes + 1, 1)
    is_key = np.zeros(opens.shape[0], dtype=bool)
    in_range = after < arr.shape[0]
    is_key[in_range] = arr[after[in_range]] == 58  # ':'
    if slashes.size:
        # a key spelt with escapes would not be recognised by its bytes: leave it to json
        string = np.searchsorted(opens, slashes, side="right") - 1
        hit = string >= 0
        if (is_key[string[hit]] & (slashes[hit] < closes[string[hit]])).any():
            return None
    top = np.flatnonzero(is_key & (str_depth == 1))
    bounds = np.append(opens[top], bpos[-1])
    parts = {}
    for j, index in enumerate(top.tolist()):
        name = data[opens[index] + 1:closes[index]]
        key = name.decode("utf-8", "replace")
        if key not in keep:
            continue
        start = int(_skip_ws(arr, np.array([after[index] + 1]), 1)[0])
        stop = int(_skip_ws(arr, np.array([bounds[j + 1]]), -1)[0])
        fields = keep[key]
        if fields is None:
            value = data[start:stop]
        else:
            value = _prune_records(data, arr, start, stop, fields, bpos, opening, depth, opens, closes, is_key,
                                   str_depth)
            if value is None:
                return None
        if key in parts:
            return None  # duplicate top-level key
        parts[key] = value
    return parts


def _prune_records(data, arr, start, stop, fields, bpos, opening, depth, opens, closes, is_key, str_depth):
    """The list of objects in ``data[start:stop]`` with only ``fields`` kept, as JSON text."""
    if data[start:start + 1] != b"[" or data[stop - 1:stop] != b"]":
        return None
    lo, hi = np.searchsorted(bpos, [start, stop])
    b, o, d = bpos[lo:hi], opening[lo:hi], depth[lo:hi]
    rec_open = b[o & (d == 2)]
    rec_close = b[~o & (d == 1)]
    if rec_open.shape != rec_close.shape:
        return None
    if not rec_open.size:
        return b"[]" if not data[start + 1:stop - 1].strip() else None
    s_lo, s_hi = np.searchsorted(opens, [start, stop])
    level = np.flatnonzero(is_key[s_lo:s_hi] & (str_depth[s_lo:s_hi] == 2)) + s_lo
    key_open = opens[level]
    length = closes[level] - key_open - 1
    wanted = np.zeros(level.shape[0], dtype=bool)
    for name in fields:
        raw = name.encode()
        cand = np.flatnonzero(length == len(raw))
        same = np.ones(cand.shape[0], dtype=bool)
        for j, byte in enumerate(raw):
            same &= arr[key_open[cand] + 1 + j] == byte
        wanted[cand[same]] = True
    if wanted.all():
        return data[start:stop]  # nothing to drop
    boundaries = np.sort(np.concatenate([key_open, rec_close]))
    sel_open = key_open[wanted]
    sel_end = _skip_ws(arr, boundaries[np.searchsorted(boundaries, sel_open, side="right")], -1)
    record = np.searchsorted(rec_open, sel_open) - 1
    if not sel_open.size:
        return b"[" + b",".join([b"{}"] * rec_open.shape[0]) + b"]"
    # One join: each kept "key": value followed by "," inside a record, or by the text closing
    # its record and opening the next one(s) ("{}" for records without a kept field).
    seps = [b","] * sel_open.shape[0]
    last_of_record = np.flatnonzero(np.r_[record[1:] != record[:-1], True])
    following = np.r_[record[last_of_record[:-1] + 1], rec_open.shape[0]]
    for i, here, nxt in zip(last_of_record.tolist(), record[last_of_record].tolist(), following.tolist()):
        seps[i] = b"}" + b",{}" * (nxt - here - 1) + (b",{" if nxt < rec_open.shape[0] else b"")
    out = [b""] * (2 * sel_open.shape[0])
    out[0::2] = [data[o:e] for o, e in zip(sel_open.tolist(), sel_end.tolist())]
    out[1::2] = seps
    return b"[" + b"{}," * int(record[0]) + b"{" + b"".join(out) + b"]"


# --------------------------------------------------------------------------------------------
# Generic path: a list of dicts (from json.load or given by the caller).


def _number(value: Any, source: str, index: int, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CocoFormatError(f"{source}: record {index}: field {field!r} must be a number, got {value!r}")
    return float(value)


def _id(value: Any, source: str, index: int, field: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CocoFormatError(f"{source}: record {index}: field {field!r} must be a number or a string, got {value!r}")
    return value


def _id_array(values: list) -> np.ndarray:
    if all(type(v) is int for v in values) and all(-(2**63) <= v < 2**63 for v in values):
        return np.array(values, dtype=np.int64).reshape(len(values))
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def results_from_records(records: Any, source: str = "<results>", *, keypoint_scores: bool = False) -> CocoResults:
    """Convert a list of COCO result dicts into :class:`CocoResults` (validating every record).

    Required per record: ``image_id``, ``category_id``, ``keypoints`` (a flat list of ``3K``
    numbers, the same ``K`` for all records) and ``score``. ``bbox`` is optional (``[]`` or
    absent means none). Other keys are ignored.
    """
    if not isinstance(records, list):
        raise CocoFormatError(f"{source}: a results file must hold a JSON list of objects, "
                              f"got {type(records).__name__}")
    n = len(records)
    image_ids: list = []
    category_ids: list = []
    kps: list = []
    scores = np.empty(n, dtype=np.float64)
    bbox = np.full((n, 4), np.nan)
    has_bbox = np.zeros(n, dtype=bool)
    length = None
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise CocoFormatError(f"{source}: record {i}: expected an object, got {type(rec).__name__}")
        for field in ("image_id", "category_id", "keypoints", "score"):
            if field not in rec:
                raise CocoFormatError(f"{source}: record {i}: missing field {field!r}")
        image_ids.append(_id(rec["image_id"], source, i, "image_id"))
        category_ids.append(_id(rec["category_id"], source, i, "category_id"))
        kp = rec["keypoints"]
        if not isinstance(kp, list) or len(kp) == 0 or len(kp) % 3:
            got = f"{len(kp)} values" if isinstance(kp, list) else repr(kp)
            raise CocoFormatError(f"{source}: record {i}: field 'keypoints' must be a list of 3*K numbers, got {got}")
        if length is None:
            length = len(kp)
        elif len(kp) != length:
            raise CocoFormatError(
                f"{source}: record {i}: field 'keypoints' has {len(kp)} values, record 0 has {length}")
        kps.append([_number(v, source, i, "keypoints") for v in kp])
        scores[i] = _number(rec["score"], source, i, "score")
        box = rec.get("bbox")
        if box is not None and box != []:
            if not isinstance(box, list) or len(box) != 4:
                raise CocoFormatError(f"{source}: record {i}: field 'bbox' must be [x, y, w, h], got {box!r}")
            bbox[i] = [_number(v, source, i, "bbox") for v in box]
            has_bbox[i] = True
    k = (length or 0) // 3
    flat = np.array(kps, dtype=np.float64).reshape(n, k, 3)
    return CocoResults(
        image_id=_id_array(image_ids),
        category_id=_id_array(category_ids),
        keypoints=np.ascontiguousarray(flat[:, :, :2]),
        keypoint_scores=np.ascontiguousarray(flat[:, :, 2]) if keypoint_scores else None,
        score=scores,
        bbox=bbox,
        has_bbox=has_bbox,
        source=source,
    )


# --------------------------------------------------------------------------------------------
# Fast path.

_DIGITS_SIGNS_WS = b"0123456789+- \t\r\n"
_STRUCT_TO_SPACE = bytes(
    32 if chr(c).isalpha() or chr(c) in '_":{}[]' else c for c in range(256)
)
_KEY_VALUE = re.compile(rb'"([A-Za-z_]+)":(\[[.,]*\]|\.?)')
_POW10 = np.array([10**i for i in range(19)], dtype=np.int64)
_POW10_FLOAT = _POW10.astype(np.float64)  # exact: 10**k = 2**k 5**k with 5**18 < 2**53
_POW10_LIMIT = _POW10[::-1].copy()  # integer part must stay below 10**(18 - F) to fit int64
_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max
_ODD_LIMIT = 0.05  # more odd records than this fraction -> plain json is as fast
_CHUNK_BYTES = 8 << 20  # chunks stay below glibc's mmap threshold: buffers are reused, not re-faulted
_EXTENDED = np.finfo(np.longdouble).nmant >= 63 and np.dtype(np.longdouble).itemsize >= 10


@dataclass(frozen=True)
class _Template:
    """Token layout of one record skeleton: per key, whether its value is an array, and the
    ``(token offset, is_float)`` of each number in it."""

    ntokens: int
    fields: dict  # name -> (is_array, [(offset, is_float), ...])


def _parse_template(skel: bytes) -> _Template | None:
    """Parse a record skeleton (without braces); ``None`` if it is not a supported layout:
    keys of letters and ``_``, values that are numbers or flat arrays of numbers."""
    fields: dict = {}
    pos = 0
    tokens = 0
    while True:
        m = _KEY_VALUE.match(skel, pos)
        if m is None:
            return None
        key = m.group(1).decode()
        value = m.group(2)
        is_array = value.startswith(b"[")
        if is_array:
            inner = value[1:-1]
            elems = [] if inner == b"" else inner.split(b",")
            if any(e not in (b"", b".") for e in elems):
                return None
        else:
            elems = [value]
        slots = []
        for e in elems:
            slots.append((tokens, e == b"."))
            tokens += 2 if e == b"." else 1
        if key in fields:
            return None  # duplicate key: json keeps the last, leave such files to json
        fields[key] = (is_array, slots)
        pos = m.end()
        if pos == len(skel):
            return _Template(tokens, fields)
        if skel[pos:pos + 1] != b",":
            return None
        pos += 1


@dataclass(frozen=True)
class Field:
    """A field to read from flat JSON records: ``kind`` is ``"int"`` (an integer), ``"number"``
    (any number, as float64) or ``"array"`` (a flat list of numbers, as float64, the same length
    in every record where it is not empty); ``columns(length)`` picks the array entries kept."""

    name: str
    kind: str
    required: bool = True
    columns: Any = None


def _template_fits(t: _Template | None, fields: tuple) -> bool:
    if t is None:
        return False
    for f in fields:
        got = t.fields.get(f.name)
        if got is None:
            if f.required:
                return False
            continue
        is_array, slots = got
        if is_array != (f.kind == "array"):
            return False
        if f.kind == "int" and slots[0][1]:
            return False  # a float where an integer is expected: json decides
    return True


def _decimal_text(ip: np.ndarray, frac: np.ndarray, nd: np.ndarray) -> list[float]:
    """Python floats of ``ip.frac`` with ``nd`` decimals (exact, slow: only for a few values)."""
    return [float(f"{a}.{b:0{c}d}" if c else f"{a}") for a, b, c in zip(ip.tolist(), frac.tolist(), nd.tolist())]


def _decode_floats(ip: np.ndarray, f1: np.ndarray, saturated: bool):
    """Decode ``(-)i.f`` numbers from the two tokens ``(-)(10 i + 1)`` and ``1f``.

    Returns ``(values, ok)``; ``ok`` is False where the number has 19 or more digits (the
    caller decodes those records with ``json``); ``saturated``: some token of the chunk
    overflowed int64 (then those are flagged too). Any shape; flat inside.
    """
    shape = ip.shape
    ip = ip.reshape(-1)
    f1 = f1.reshape(-1)
    aip = (np.abs(ip) - 1) // 10
    nd = np.searchsorted(_POW10, f1, side="right") - 1  # number of decimals F
    scale = _POW10[nd]
    frac = f1 - scale
    ok = aip < _POW10_LIMIT[nd]
    if saturated:
        ok &= (f1 < _INT64_MAX) & (ip > _INT64_MIN) & (ip < _INT64_MAX)
    m = aip * scale + frac
    values = m / _POW10_FLOAT[nd]  # exact (Clinger's fast path) where m < 2**53
    big = np.flatnonzero(m >= 2**53)
    if big.size:
        mb = m[big]
        sb = scale[big]
        if _EXTENDED:
            q = mb.astype(np.longdouble) / sb.astype(np.longdouble)
            v = q.astype(np.float64)
            # Double rounding errs only when q sits exactly halfway between two doubles: the 11
            # significand bits below float64's are then 1 followed by zeros.
            low = q.view(np.uint64).reshape(q.shape[0], -1)[:, 0] & np.uint64(0x7FF)
            tie = np.flatnonzero(low == np.uint64(0x400))
            if tie.size:
                v[tie] = _decimal_text(aip[big][tie], frac[big][tie], nd[big][tie])
        else:
            v = _decimal_text(aip[big], frac[big], nd[big])
        values[big] = v
    np.negative(values, out=values, where=ip < 0)
    return values.reshape(shape), ok.reshape(shape)


def _decode_slots(vals: np.ndarray, base: np.ndarray, slots: list, saturated: bool):
    """Values of the given slots for records starting at token offsets ``base``:
    ``(n, len(slots))`` float64 and a per-record flag that all of them decoded exactly."""
    n = base.shape[0]
    is_float = [f for _, f in slots]
    offsets = np.array([o for o, _ in slots], dtype=np.int64)
    if all(is_float):
        idx = base[:, None] + offsets
        values, ok = _decode_floats(vals[idx], vals[idx + 1], saturated)
        return values, ok.all(axis=1)
    out = np.empty((n, len(slots)), dtype=np.float64)
    ok = np.ones((n, len(slots)), dtype=bool)
    float_cols = np.flatnonzero(is_float)
    int_cols = np.flatnonzero(~np.array(is_float))
    idx = base[:, None] + offsets[int_cols]
    iv = vals[idx]
    out[:, int_cols] = iv.astype(np.float64)
    ok[:, int_cols] = (np.abs(iv) <= 2**53) & (iv != _INT64_MIN)
    if float_cols.size:
        idx = base[:, None] + offsets[float_cols]
        out[:, float_cols], ok[:, float_cols] = _decode_floats(vals[idx], vals[idx + 1], saturated)
    return out, ok.all(axis=1)


def _has_empty_field(buffer: bytes, last: bool) -> bool:
    """Whether the comma-separated number buffer has a field with nothing but whitespace."""
    packed = buffer.translate(None, b" \t\r\n")
    return packed.startswith(b",") or b",," in packed or (last and packed.endswith(b","))


def _record_starts(chunk: bytes, n: int) -> list[int] | None:
    """Offset of the ``{`` opening each of the ``n`` records of a chunk (None if the count differs)."""
    starts = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 123)
    return starts.tolist() if starts.shape[0] == n else None


def _record_text(chunk: bytes, starts: list[int], r: int) -> bytes:
    """The text of record ``r``, ``{`` to ``}``."""
    stop = starts[r + 1] if r + 1 < len(starts) else len(chunk)
    return chunk[starts[r]:chunk.rfind(b"}", starts[r], stop) + 1]


def _columns_from_records(records: list, fields: tuple, widths: dict) -> dict | None:
    """The same columns as :func:`_parse_records` for records decoded by ``json`` (the few the
    fast path leaves aside); ``None`` if a record does not fit (the caller falls back)."""
    n = len(records)
    out: dict = {}
    for f in fields:
        present = np.zeros(n, dtype=bool)
        length, cols = widths.get(f.name, (0, []))
        if f.kind == "array":
            values = np.zeros((n, len(cols)))
        else:
            values = np.zeros(n, dtype=np.int64 if f.kind == "int" else np.float64)
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                return None
            v = rec.get(f.name)
            if v is None:
                if f.required:
                    return None
                continue
            if f.kind == "array":
                if v == []:
                    continue
                if not isinstance(v, list) or len(v) != length:
                    return None
                if not all(type(x) in (int, float) for x in v):
                    return None
                values[i] = [v[c] for c in cols]
            elif type(v) is int and f.kind == "int" and -(2**63) < v < 2**63:
                values[i] = v
            elif type(v) in (int, float) and f.kind == "number":
                values[i] = float(v)
            else:
                return None
            present[i] = True
        out[f.name] = (values, present)
    return out


def _parse_records(chunk: bytes, first: bool, last: bool, templates: dict, fields: tuple,
                   widths: dict) -> dict | None:
    """Decode the fields of the whole records in ``chunk`` (see the module docstring).

    A chunk starts with ``[`` (first) or the next record, and ends after ``},`` or, for the
    last one, with ``]``. ``templates`` caches parsed skeletons across chunks; ``widths`` holds,
    per array field, ``(length, kept columns)`` once known. Returns ``{name: (values, present)}``
    or ``None`` (the caller then parses the whole file with ``json``).
    """
    skel = chunk.translate(None, _DIGITS_SIGNS_WS)
    if first:
        if not skel.startswith(b"["):
            return None
        skel = skel[1:]
    if last:
        if not skel.endswith(b"]"):
            return None
        skel = skel[:-1]
    elif skel.endswith(b","):
        skel = skel[:-1]
    else:
        return None
    if skel == b"":
        if not (first and last):
            return None
        return _columns_from_records([], fields, {f.name: (0, []) for f in fields})
    if not (skel.startswith(b"{") and skel.endswith(b"}")):
        return None
    parts = skel[1:-1].split(b"},{")
    n = len(parts)
    names = list(dict.fromkeys(parts))
    for name in names:
        if name not in templates:
            if len(templates) >= 4096:
                return None
            templates[name] = _parse_template(name)
    local = {name: i for i, name in enumerate(names)}
    tid = np.fromiter((local[p] for p in parts), dtype=np.int64, count=n)
    chunk_templates = [templates[name] for name in names]
    usable = np.array([_template_fits(t, fields) for t in chunk_templates])
    for t in (t for t, ok in zip(chunk_templates, usable) if ok):
        for f in fields:
            if f.kind == "array" and f.name in t.fields and t.fields[f.name][1]:
                length = len(t.fields[f.name][1])
                if f.name not in widths:
                    cols = list(range(length)) if f.columns is None else list(f.columns(length))
                    widths[f.name] = (length, cols)
                elif widths[f.name][0] != length:
                    return None  # inconsistent lengths: the generic path names the record
    odd = ~usable[tid]
    starts = None
    if odd.any():
        if odd.mean() > _ODD_LIMIT:
            return None
        starts = _record_starts(chunk, n)
        if starts is None:
            return None
        # Keep the runs of usable records for the fast parse.
        pieces = []
        edges = np.flatnonzero(np.diff(np.r_[0, (~odd).view(np.int8), 0]))
        for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist()):
            pieces.append(chunk[starts[a]:len(_record_text(chunk, starts, b - 1)) + starts[b - 1]])
        numbers = b",".join(pieces)
    else:
        numbers = chunk
    fast = np.flatnonzero(~odd)
    counts = np.array([t.ntokens if t is not None else 0 for t in chunk_templates], dtype=np.int64)[tid[fast]]
    buffer = numbers.replace(b".", b"1,1").translate(_STRUCT_TO_SPACE)
    try:
        vals = np.fromstring(buffer, dtype=np.int64, sep=",")
    except ValueError:
        return None
    if vals.shape[0] != int(counts.sum()):
        return None
    # numpy reads a field holding only whitespace (an empty JSON value here) as 0; no token of
    # a float is 0, so only chunks with a zero need the check.
    if (vals == 0).any() and _has_empty_field(buffer, last):
        return None
    saturated = bool(vals.size) and (vals.min() == _INT64_MIN or vals.max() == _INT64_MAX)
    offsets = np.zeros(fast.shape[0], dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])

    out: dict = {}
    for f in fields:
        if f.kind == "array":
            width = len(widths[f.name][1]) if f.name in widths else 0
            values = np.zeros((n, width))
        else:
            values = np.zeros(n, dtype=np.int64 if f.kind == "int" else np.float64)
        out[f.name] = (values, np.zeros(n, dtype=bool))
    bad = odd.copy()
    tid_fast = tid[fast]
    for t_index, t in enumerate(chunk_templates):
        if not usable[t_index]:
            continue
        sel = np.flatnonzero(tid_fast == t_index)
        rows = fast[sel]
        base = offsets[sel]
        for f in fields:
            if f.name not in t.fields or not t.fields[f.name][1]:
                continue  # absent, or an empty array
            values, present = out[f.name]
            slots = t.fields[f.name][1]
            present[rows] = True
            if f.kind == "int":
                iv = vals[base + slots[0][0]]
                values[rows] = iv
                if saturated:
                    bad[rows] |= (iv == _INT64_MIN) | (iv == _INT64_MAX)
                continue
            if f.kind == "array":
                slots = [slots[c] for c in widths[f.name][1]]
            v, good = _decode_slots(vals, base, slots, saturated)
            values[rows] = v if f.kind == "array" else v[:, 0]
            bad[rows] |= ~good
    if bad.any():
        starts = starts or _record_starts(chunk, n)
        if starts is None:
            return None
        rows = np.flatnonzero(bad)
        try:
            records = [json.loads(_record_text(chunk, starts, r)) for r in rows.tolist()]
        except ValueError:
            return None
        if any(isinstance(rec, dict) and f.kind == "array" and f.name not in widths
               and isinstance(rec.get(f.name), list) and rec.get(f.name) for rec in records for f in fields):
            return None  # an array seen only in json-decoded records: leave the file to json
        slow = _columns_from_records(records, fields, widths)
        if slow is None:
            return None
        for f in fields:
            values, present = out[f.name]
            values[rows] = slow[f.name][0]
            present[rows] = slow[f.name][1]
    return out


def read_fields(stream, fields: tuple, *, first: bool = True, final: bool = True,
                limit: int | None = None) -> tuple[dict, dict] | None:
    """Read a JSON list of flat records from a binary ``stream`` with the fast path.

    ``fields``: :class:`Field` specs. Returns ``({name: (values, present)}, widths)`` --
    ``values`` ``(N,)`` int64/float64 or ``(N, len(columns))`` float64 for arrays, ``present``
    ``(N,)`` bool, ``widths[name] = (array length, kept columns)`` -- or ``None`` when the text
    is not a layout the fast path reads (the caller then uses ``json``). Exactly the values
    ``json`` gives; never raises for bad input.

    A window of the list: ``first=False`` when the stream starts after a record's ``},``
    rather than at the ``[``; ``final=False`` when it stops right after a ``},`` rather than
    at the ``]``; ``limit``: read at most this many bytes. :func:`join_columns` joins windows.
    """
    templates: dict = {}
    widths: dict = {}
    parts = []
    for chunk, is_first, is_last in _chunks(stream, _CHUNK_BYTES, first, final, limit):
        part = _parse_records(chunk, is_first, is_last, templates, fields, widths)
        if part is None:
            return None
        parts.append(part)
    return _concatenate(parts, widths, fields)


def join_columns(windows: list, fields: tuple) -> tuple[dict, dict] | None:
    """Join :func:`read_fields` outputs of consecutive windows of one list, in order; ``None``
    when a window is ``None`` or two windows disagree on an array's length."""
    if any(w is None for w in windows):
        return None
    widths: dict = {}
    for _, window_widths in windows:
        for name, width in window_widths.items():
            if widths.setdefault(name, width)[0] != width[0]:
                return None
    return _concatenate([columns for columns, _ in windows], widths, fields)


def _concatenate(parts: list, widths: dict, fields: tuple) -> tuple[dict, dict] | None:
    """One ``({name: (values, present)}, widths)`` from parts of records, in order; a part that
    saw no value of an array field holds it with 0 columns."""
    out = {}
    for f in fields:
        values = [p[f.name][0] for p in parts]
        if f.kind == "array":
            width = len(widths[f.name][1]) if f.name in widths else 0
            values = [v if v.shape[1] == width else np.zeros((v.shape[0], width)) for v in values]
            if any(p[f.name][1].any() and p[f.name][0].shape[1] != width for p in parts):
                return None
        out[f.name] = (np.concatenate(values), np.concatenate([p[f.name][1] for p in parts]))
    return out, widths


def _chunks(stream, size: int, first: bool = True, final: bool = True, limit: int | None = None):
    """Yield ``(chunk, first, last)``: pieces of a JSON list cut right after a ``},``.

    Reads into one reused buffer, so that each chunk is copied once; at most ``limit`` bytes.
    ``first``/``final``: whether the stream starts at the list's ``[`` and ends at its ``]``.
    """
    buf = bytearray(size)
    view = memoryview(buf)
    filled = 0
    left = float("inf") if limit is None else limit
    while True:
        if filled == len(buf):  # a record longer than the buffer: grow it
            view.release()
            buf.extend(bytes(len(buf)))
            view = memoryview(buf)
        got = stream.readinto(view[filled:filled + int(min(len(buf) - filled, left))]) if left else 0
        if not got:
            if filled or final or first:
                yield bytes(view[:filled]), first, final
            return
        left -= got
        filled += got
        cut = buf.rfind(b"},", 0, filled)
        if cut < 0:
            continue
        yield bytes(view[:cut + 2]), first, False
        first = False
        rest = filled - (cut + 2)
        view[:rest] = view[cut + 2:filled]
        filled = rest


def _results_fields(keypoint_scores: bool) -> tuple:
    return (
        Field("image_id", "int"),
        Field("category_id", "int"),
        Field("keypoints", "array", columns=None if keypoint_scores else
              (lambda length: [j for j in range(length) if j % 3 != 2])),
        Field("score", "number"),
        Field("bbox", "array", required=False),
    )


def _read_fast(stream, source: str, keypoint_scores: bool) -> CocoResults | None:
    return _results_from_columns(read_fields(stream, _results_fields(keypoint_scores)), source, keypoint_scores)


def _results_from_columns(got: tuple[dict, dict] | None, source: str, keypoint_scores: bool) -> CocoResults | None:
    if got is None:
        return None
    cols, widths = got
    kp_values, kp_present = cols["keypoints"]
    n = kp_present.shape[0]
    if n == 0:
        return results_from_records([], source, keypoint_scores=keypoint_scores)
    length = widths["keypoints"][0] if "keypoints" in widths else 0
    if not kp_present.all() or length == 0 or length % 3:
        return None  # let the generic path name the record
    box_values, box_present = cols["bbox"]
    if box_present.any() and widths["bbox"][0] != 4:
        return None
    k = length // 3
    kps = kp_values.reshape(n, k, 3 if keypoint_scores else 2)
    bbox = np.full((n, 4), np.nan)
    if box_present.any():
        bbox[box_present] = box_values[box_present]
    return CocoResults(
        image_id=cols["image_id"][0],
        category_id=cols["category_id"][0],
        keypoints=np.ascontiguousarray(kps[:, :, :2]),
        keypoint_scores=np.ascontiguousarray(kps[:, :, 2]) if keypoint_scores else None,
        score=cols["score"][0],
        bbox=bbox,
        has_bbox=box_present,
        source=source,
    )


def results_split_offset(path: str | os.PathLike, fraction: float) -> int | None:
    """A byte offset of a results file right after a ``},`` at or after ``fraction`` of its
    size, where it can be cut into two windows (see :func:`read_results_window`); ``None``
    when there is none. Raises ``OSError`` for a missing or unreadable file."""
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        stream.seek(int(size * min(max(fraction, 0.0), 1.0)))
        while True:
            at = stream.tell()
            block = stream.read(1 << 16)
            if len(block) < 2:
                return None
            found = block.find(b"},")
            if found >= 0:
                return at + found + 2
            stream.seek(at + len(block) - 1)


def read_results_window(path: str | os.PathLike, start: int, stop: int | None,
                        keypoint_scores: bool = False) -> tuple[dict, dict] | None:
    """The fast path's columns (see :func:`read_fields`) of the records in bytes
    ``[start, stop)`` of a results file (``stop=None``: to the end), cut at offsets from
    :func:`results_split_offset`. ``None`` when the fast path cannot read them; join the
    windows with :func:`results_from_windows`, which then reads the file the generic way."""
    with open(path, "rb") as stream:
        stream.seek(start)
        return read_fields(stream, _results_fields(keypoint_scores), first=start == 0, final=stop is None,
                           limit=None if stop is None else stop - start)


def results_from_windows(windows: list, path: str | os.PathLike, *, keypoint_scores: bool = False) -> CocoResults:
    """:class:`CocoResults` from the :func:`read_results_window` outputs covering a whole
    results file, in order: exactly :func:`read_coco_results`'s, which reads the file (and
    names any bad record) whenever a window is not readable by the fast path."""
    joined = join_columns(windows, _results_fields(keypoint_scores))
    fast = _results_from_columns(joined, str(path), keypoint_scores)
    return fast if fast is not None else read_coco_results(path, keypoint_scores=keypoint_scores)


def read_coco_results(source: str | os.PathLike | list, *, keypoint_scores: bool = False) -> CocoResults:
    """Read a COCO keypoint results file (or convert an already loaded list) into arrays.

    ``keypoint_scores=False`` skips the per-keypoint confidences, which COCO evaluation never
    reads. Raises :class:`CocoFormatError` naming the file, the record index and the field for
    malformed input, ``FileNotFoundError`` for a missing file.
    """
    if isinstance(source, list):
        return results_from_records(source, keypoint_scores=keypoint_scores)
    path = Path(source)
    name = str(path)
    with open(path, "rb") as stream:
        fast = _read_fast(stream, name, keypoint_scores)
    if fast is not None:
        return fast
    return results_from_records(load_json(path.read_bytes(), name), name, keypoint_scores=keypoint_scores)

