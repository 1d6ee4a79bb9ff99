"""Shared helpers of the dataset readers: errors that name file, record and field; JSON,
MATLAB ``.mat``, HDF5, ``.npz`` and pickle opening; MATLAB struct access; box helpers.

Every reader error is a :class:`FormatError` whose message reads
``"<file>: <record>: field '<field>' <problem>"`` (record and field are left out where they
do not apply, e.g. for a missing or truncated file). Records are written the way the file
indexes them: ``annotations[3]`` (0-based) for JSON and ``.npz`` rows, ``annolist(12)``
(1-based) for MATLAB structs.

scipy (for ``.mat``) and h5py (for ``.h5``) are imported only when such a file is opened;
a clear ``ImportError`` says which package to install if it is missing.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

# Bytes that open an HDF5 file, i.e. a MATLAB v7.3 .mat (MATLAB puts a 512-byte header first).
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class FormatError(ValueError):
    """A dataset file that does not follow its format; the message names file, record and field."""


def format_error(path: str | Path, record: str | None, field: str | None, problem: str) -> FormatError:
    """A :class:`FormatError` reading ``"<path>: <record>: field '<field>' <problem>"``."""
    parts = [str(path)]
    if record:
        parts.append(record)
    parts.append(f"field {field!r} {problem}" if field else problem)
    return FormatError(": ".join(parts))


def existing_file(path: str | Path) -> Path:
    """``path`` as a ``Path``; :class:`FormatError` if it is not an existing file."""
    path = Path(path)
    if not path.is_file():
        raise format_error(path, None, None, "file not found" if not path.exists() else "is not a file")
    return path


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; :class:`FormatError` for a missing file or invalid (e.g. truncated) JSON."""
    path = existing_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise format_error(path, None, None, f"is not valid JSON (truncated or corrupt?): {err}") from None


def get_field(record: Any, key: str, path: str | Path, where: str) -> Any:
    """``record[key]`` of a JSON object; :class:`FormatError` if ``record`` is not an object or lacks ``key``."""
    if not isinstance(record, dict):
        raise format_error(path, where, None, f"is a {type(record).__name__}, expected a JSON object "
                                              f"with field {key!r}")
    if key not in record:
        raise format_error(path, where, key, "is missing")
    return record[key]


def get_list(record: Any, key: str, path: str | Path, where: str) -> list:
    """``record[key]``, which must be a JSON list."""
    value = get_field(record, key, path, where)
    if not isinstance(value, list):
        raise format_error(path, where, key, f"is a {type(value).__name__}, expected a list")
    return value


def float_array(value: Any, shape: Sequence[int | None], path: str | Path, where: str | None,
                field: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (``None`` = any length on that axis).

    :class:`FormatError` naming ``field`` if ``value`` is not numeric or has another shape.
    """
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nesting
        array = np.asarray(None)
    if array.dtype.kind not in "iuf":  # null, strings, booleans, ragged lists
        raise format_error(path, where, field, f"is not numeric (got {_preview(value)})")
    array = array.astype(np.float64)
    if array.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, array.shape)):
        expected = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise format_error(path, where, field, f"has shape {array.shape}, expected {expected}")
    return array


def keypoint_triplets(value: Any, num_keypoints: int, path: str | Path, where: str, field: str,
                      skeleton_name: str) -> np.ndarray:
    """A flat ``[x, y, v] * K`` list as a ``(K, 3)`` float64 array; the error names the expected length."""
    if not isinstance(value, (list, tuple)) or len(value) != 3 * num_keypoints:
        got = f"{len(value)} values" if isinstance(value, (list, tuple)) else f"a {type(value).__name__}"
        raise format_error(path, where, field, f"has {got}, expected {3 * num_keypoints} "
                                               f"([x, y, v] for the {num_keypoints} joints of {skeleton_name!r})")
    return float_array(value, (3 * num_keypoints,), path, where, field).reshape(num_keypoints, 3)


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- binary containers -----------------------------------------------------------------------------


def load_mat(path: str | Path) -> dict[str, Any]:
    """Variables of a MATLAB v4-v7 ``.mat`` file (``scipy.io.loadmat`` with ``squeeze_me=True``,
    ``struct_as_record=False``: 1-element arrays become scalars, structs become objects with
    attributes; see :func:`mat_items` and :func:`mat_field`).

    :class:`FormatError` for a missing, truncated or corrupt file and for MATLAB v7.3 (HDF5)
    files, which must be re-saved with ``save(..., '-v7')``.
    """
    path = existing_file(path)
    try:
        import scipy.io
    except ImportError as err:
        raise ImportError(f"{path}: reading MATLAB .mat files needs scipy (pip install scipy)") from err
    with path.open("rb") as handle:
        head = handle.read(520)
    if head[512:520] == _HDF5_SIGNATURE:
        raise format_error(path, None, None, "is a MATLAB v7.3 (HDF5) file; re-save it in MATLAB with "
                                             "save(file, '-v7') to read it with posekit")
    if head[:8] == _HDF5_SIGNATURE:
        raise format_error(path, None, None, "is an HDF5 file, not a MATLAB v4-v7 .mat (a MATLAB v7.3 .mat "
                                             "must be re-saved with save(file, '-v7'))")
    try:
        data = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as err:  # scipy raises many types (ValueError, TypeError, OSError, zlib.error...)
        raise format_error(path, None, None, f"cannot be read as a MATLAB file (truncated or corrupt?): "
                                             f"{type(err).__name__}: {err}") from None
    return {k: v for k, v in data.items() if not k.startswith("__")}


def load_h5(path: str | Path) -> dict[str, np.ndarray]:
    """All top-level datasets of an HDF5 file, read into memory.

    :class:`FormatError` for a missing, truncated or corrupt file.
    """
    path = existing_file(path)
    try:
        import h5py
    except ImportError as err:
        raise ImportError(f"{path}: reading HDF5 .h5 files needs h5py (pip install h5py)") from err
    try:
        with h5py.File(path, "r") as handle:
            return {name: item[()] for name, item in handle.items() if isinstance(item, h5py.Dataset)}
    except OSError as err:
        raise format_error(path, None, None, f"cannot be read as an HDF5 file (truncated or corrupt?): {err}") from None


def load_npz(path: str | Path, trust_pickle: bool = False) -> dict[str, np.ndarray]:
    """All arrays of a NumPy ``.npz`` archive, read into memory.

    Object arrays are stored as pickles, and unpickling can run arbitrary code: they are
    loaded only with ``trust_pickle=True``; otherwise a :class:`FormatError` names the field
    and says why. :class:`FormatError` for a missing, truncated or corrupt file.
    """
    path = existing_file(path)
    try:
        loaded = np.load(path, allow_pickle=trust_pickle)
    except Exception as err:  # zipfile.BadZipFile, EOFError, OSError, ValueError, ...
        raise format_error(path, None, None, f"cannot be read as a NumPy file (truncated or corrupt?): "
                                             f"{type(err).__name__}: {err}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise format_error(path, None, None, "is a single .npy array, expected an .npz archive of named arrays")
    with loaded:
        out = {}
        for key in loaded.files:
            try:
                out[key] = loaded[key]
            except ValueError as err:
                if "allow_pickle" in str(err):
                    raise _pickle_refused(path, key) from None
                raise format_error(path, None, key, f"cannot be read (truncated or corrupt?): {err}") from None
            except Exception as err:
                raise format_error(path, None, key, f"cannot be read (truncated or corrupt?): "
                                                    f"{type(err).__name__}: {err}") from None
    return out


def load_pickle(path: str | Path, trust_pickle: bool = False) -> Any:
    """Unpickle ``path``, only with ``trust_pickle=True`` (unpickling can run arbitrary code)."""
    path = existing_file(path)
    if not trust_pickle:
        raise _pickle_refused(path, None)
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except Exception as err:  # UnpicklingError, EOFError, ImportError of a missing class, ...
        raise format_error(path, None, None, f"cannot be unpickled (truncated or corrupt?): "
                                             f"{type(err).__name__}: {err}") from None


def _pickle_refused(path: Path, field: str | None) -> FormatError:
    return format_error(path, None, field, "is stored as a Python pickle, and unpickling a file can run "
                                           "arbitrary code; pass trust_pickle=True if you trust this file")


def require_keys(arrays: dict[str, Any], keys: Iterable[str], path: str | Path, where: str | None = None) -> None:
    """:class:`FormatError` naming the first of ``keys`` missing from ``arrays``."""
    for key in keys:
        if key not in arrays:
            raise format_error(path, where, key, f"is missing (present: {sorted(arrays)})")


def check_shape(array: np.ndarray, shape: Sequence[int | None], path: str | Path, field: str) -> np.ndarray:
    """``array`` as float64 if it is numeric with shape ``shape`` (``None`` = any length on that
    axis); :class:`FormatError` naming ``field`` otherwise."""
    if array.dtype.kind not in "iuf":
        raise format_error(path, None, field, f"has dtype {array.dtype}, expected numbers")
    return float_array(array, shape, path, None, field)


# --- MATLAB structs (as loaded by load_mat) -----------------------------------------------------------


def mat_items(value: Any) -> list:
    """A MATLAB struct array or cell array as a list: ``[]`` when empty, ``[value]`` for a single
    (squeezed) element, the flattened elements (column-major, MATLAB's order) otherwise."""
    if isinstance(value, np.ndarray):
        return [] if value.size == 0 else list(value.ravel(order="F"))
    return [value]


def mat_field(struct: Any, name: str) -> Any:
    """Field ``name`` of a MATLAB struct, or ``None`` where the struct lacks it or it is empty (``[]``, ``''``)."""
    value = getattr(struct, name, None)
    if isinstance(value, np.ndarray) and value.size == 0 or isinstance(value, (str, bytes)) and not value:
        return None
    return value


def mat_float(struct: Any, name: str, path: str | Path, where: str) -> float:
    """Numeric scalar field ``name`` of a MATLAB struct; :class:`FormatError` if missing or not a number."""
    value = mat_field(struct, name)
    if value is None:
        raise format_error(path, where, name, "is missing or empty")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise format_error(path, where, name, f"is not a number (got {_preview(value)})") from None
    if array.size != 1:
        raise format_error(path, where, name, f"has {array.size} values, expected one number")
    return float(array.reshape(()))


def mat_text(value: Any) -> str:
    """A MATLAB char array (``str``, bytes or a 1-element array of one) as ``str``; ``""`` when empty."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return "" if value.size == 0 else mat_text(value.reshape(-1)[0]) if value.size == 1 else str(value)
    return str(value)


# --- boxes ------------------------------------------------------------------------------------------------

#: The MPII/H36M ``scale`` unit: person height (or box side) in pixels divided by 200.
PIXEL_STD = 200.0


def boxes_from_center_scale(centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Square xyxy boxes ``(N, 4)`` of side ``scale * 200`` around ``centers (N, 2)`` (the
    MMPose convention for MPII / H36M / MPI-INF-3DHP ``center``/``scale`` fields)."""
    centers = np.asarray(centers, np.float64).reshape(-1, 2)
    half = np.asarray(scales, np.float64).reshape(-1, 1) * (PIXEL_STD / 2.0)
    return np.concatenate([centers - half, centers + half], axis=1).astype(np.float32)


def boxes_from_keypoints(keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes ``(N, 4)`` around each instance's labelled (``visibility > 0``) keypoints
    ``(N, K, 2)``; NaN for an instance with no labelled keypoint."""
    keypoints = np.asarray(keypoints, np.float64)
    labelled = np.asarray(visibility) > 0
    boxes = np.full((keypoints.shape[0], 4), np.nan, np.float32)
    for i in range(keypoints.shape[0]):
        pts = keypoints[i][labelled[i]]
        if len(pts):
            boxes[i] = [*pts.min(axis=0), *pts.max(axis=0)]
    return boxes


def image_file(image_dir: str | Path | None, name: str) -> str:
    """``meta["file"]``: ``image_dir / name`` when an image folder is given, else ``name`` as stored."""
    return str(Path(image_dir) / name) if image_dir is not None else str(name)
