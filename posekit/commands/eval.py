"""``posekit eval``: score predictions against a dataset's own ground-truth file.

Metrics (``--metric``), the ground truth each reads (``--gt``, the dataset's native file, read
with :mod:`posekit.data.readers`) and the predictions it expects (``--results``):

- ``coco`` (default): COCO keypoints JSON + COCO results JSON; the ten AP/AR values exactly
  as pycocotools computes them (:mod:`posekit.metrics.coco_eval`). ``--skeleton`` picks the OKS
  sigmas (e.g. ``aic14`` for the COCO-style AI Challenger files, MMPose's "AIC AP"); the
  xtcocotools options are ``--box-area`` (GT area ``0.53 * w * h``; files without ``area`` get
  it anyway), ``--gt-ignore labelled`` and ``--drop-zero-confidence``; ``--breakdown`` adds
  the per-area-range table and the per-keypoint AP.
- ``pck``: same files; box-normalised PCK. Every non-crowd GT person with labelled joints is
  paired with the result of the same image that has the highest OKS with it (a person without
  any result in its image scores 0); a joint is correct when its error divided by ``max(w, h)``
  of the GT box is below ``--thr`` (``<=`` with ``--inclusive``).
- ``crowdpose``: CrowdPose GT JSON (``images[].crowdIndex``) + COCO results JSON (14 keypoints);
  AP, AP50, AP75, AR, AR50, AR75 and AP easy / medium / hard as the CrowdPose evaluators compute
  them (:mod:`posekit.metrics.crowdpose_eval`; ``--drop-zero-confidence`` for xtcocotools).
- ``aic``: AI Challenger raw annotation JSON + raw prediction JSON (the challenge's own
  layout); the official keypoint score (:mod:`posekit.metrics.aic_eval`), in percent.
- ``pckh``: MPII PCKh table (:func:`posekit.metrics.pckh.mpii_pckh`, ``--variant
  official|hrnet|mmpose``). GT: Newell's ``valid.h5``, the evaluators' ``gt_valid.mat`` /
  ``mpii_gt_val.mat``, the HRNet/MMPose JSON with ``--head-boxes gt_valid.mat``, or the release
  ``.mat``.
- ``lsp-pck``, ``pdj``, ``pcp``: eval_pose's torso PCK (``--thr``, default 0.2), PDJ (at 0.1 to
  0.4) and strict/loose PCP (``--pcp-mode``, ``--alpha``) on LSP 14 joints. GT: LSP
  ``joints.mat`` (``lsp-joints-PC.mat`` / ``-OC.mat``).
- ``flic-pck``: eval_pose's torso PCK on FLIC's 10-joint layout (``--thr``, default 0.2; ``pdj``
  with ``--dataset flic`` for PDJ). GT: FLIC ``examples.mat`` (the struct array; its 11 labelled
  joints give the 10 of the layout, neck = mid-shoulders) or eval_pose's ``joints`` array
  ``2 x 10 x N`` (``flic-joints-test-oc.mat``, 1-based pixels).
- ``mpjpe``, ``p-mpjpe``, ``n-mpjpe``, ``mpjve``, ``3dpck``: Human3.6M or MPI-INF-3DHP MMPose npz
  (told by the file, or ``--dataset``), or VideoPose3D's ``data_3d_h36m.npz`` (a pickle: needs
  ``--trust-pickle``; world coordinates, rows in file order subject -> action -> frame);
  Human3.6M: root-relative error at the pelvis with no / similarity / scale alignment
  (VideoPose3D protocols #1-#3), action mean, frame mean and per action, in mm; MPI-INF-3DHP:
  3DPCK@150 mm, AUC and MPJPE on the official 14 joints (``--joint-set all`` for all 17),
  root-relative at the pelvis. ``mpjve``: the root-relative MPJPE of the differences between
  consecutive rows of one sequence (same subject, action and camera; 3DHP: same sequence and
  camera), in mm per stored frame step. ``3dpck`` on Human3.6M: PCK@150 mm and AUC of the
  root-relative errors over all 17 joints.
  Human3.6M frames are first filtered to the evaluation protocol (VideoPose3D's by default:
  test subjects S9 and S11, all four cameras, every frame): ``--subjects S9,S11|all``,
  ``--cameras ID,...|all`` and ``--frame-stride N`` (keep frame numbers ``first, first + N,
  ...`` of each sequence, counted on the 50 fps numbers, not on the file's rows), applied by
  :func:`posekit.metrics.protocols.select_h36m_rows`. The output says how many frames each
  subject kept; a filter that keeps nothing is an error naming the file and field.
  Predictions hold one pose per row of the file or one per kept frame.

Prediction arrays for the 2D dataset metrics (``pckh``, ``lsp-pck``, ``flic-pck``, ``pdj``,
``pcp``): a ``.npy``, ``.npz``, ``.mat``, ``.h5`` or ``.json`` array, one pose per ground-truth
person **in reader order** (MPII ``.h5``/``.json``/``gt_valid.mat``: the file's record order;
MPII release ``.mat``: image order, then person), shaped ``(N, K, 2)`` (or ``(N, K, 3)``, the third column
ignored) or eval_pose's ``(2, K, N)`` / ``(3, K, N)``. The variable is ``--results-key`` or the
file's only array (``.mat``: ``preds``/``pred`` first). When the GT holds a train and a test split
(LSP ``joints.mat``, FLIC ``examples.mat``) and the predictions cover only the test images, the
test split is scored. Coordinates must be posekit's 0-based pixel centres (readers shift MATLAB
labels by -1); ``--one-based`` subtracts 1 from predictions saved in MATLAB's 1-based pixels
(pose-hg-train, eval_pose). 3D predictions: ``(N, J, 3)`` in ``--results-unit`` (default ``m``,
the npz files' unit), one per npz row.

Each metric prints a readable table, or one JSON object with ``--json``. Only numpy (plus scipy
or h5py for ``.mat``/``.h5`` files) is imported: no torch, no OpenCV. Bad input prints one line
naming the file, record and field and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

METRICS_2D_ARRAYS = ("pckh", "lsp-pck", "flic-pck", "pdj", "pcp")
METRICS_3D = ("mpjpe", "p-mpjpe", "n-mpjpe", "mpjve", "3dpck")
METRICS_COCO_FILES = ("crowdpose", "aic")
METRICS = ("coco", "pck") + METRICS_COCO_FILES + METRICS_2D_ARRAYS + METRICS_3D


class InputError(ValueError):
    """Input that cannot be evaluated; the message names the file, record and field."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, help="ground truth: the dataset's own file (see --metric)")
    parser.add_argument("--results", required=True, help="predictions: COCO results JSON (coco, pck) or an "
                                                         "array file (.npy/.npz/.mat/.h5/.json)")
    parser.add_argument("--metric", choices=METRICS, default="coco", help="metric (default coco)")
    parser.add_argument("--json", action="store_true", help="print the values as one JSON object")
    coco = parser.add_argument_group("coco / pck")
    coco.add_argument("--skeleton", default="coco17", help="skeleton whose OKS sigmas are used (default coco17)")
    coco.add_argument("--max-dets", type=int, default=20, help="coco: detections kept per image (default 20)")
    coco.add_argument("--thr", type=float, default=None,
                      help="pck: threshold on error / max(w, h) (default 0.05); lsp-pck, flic-pck: on error / "
                           "torso (default 0.2, a multiple of 0.01 up to 0.2)")
    coco.add_argument("--inclusive", action="store_true", help="pck: count error <= thr (default: error < thr)")
    coco.add_argument("--norm", choices=("bbox", "torso"), default="bbox",
                      help="pck: normalise by max(w, h) of the GT box (default) or the GT torso "
                           "||left_shoulder - right_hip||")
    coco.add_argument("--drop-zero-confidence", action="store_true",
                      help="coco, crowdpose: leave out results whose keypoint scores are all 0 (xtcocotools)")
    coco.add_argument("--box-area", action="store_true",
                      help="coco: GT area = 0.53 * w * h of its bbox (xtcocotools use_area=False)")
    coco.add_argument("--gt-ignore", choices=("num_keypoints", "labelled"), default="num_keypoints",
                      help="coco: ignore a GT whose num_keypoints field is 0 (pycocotools, default) or that has "
                           "no joint with v > 0 (xtcocotools iouType='keypoints')")
    coco.add_argument("--breakdown", action="store_true",
                      help="coco: add the table per area range and the AP of each keypoint")
    arrays = parser.add_argument_group("pckh / lsp-pck / flic-pck / pdj / pcp")
    arrays.add_argument("--variant", choices=("official", "hrnet", "mmpose"), default="official",
                        help="pckh: which published evaluator's table (default official)")
    arrays.add_argument("--head-boxes", help="pckh with an MPII JSON: gt_valid.mat with one head box per record")
    arrays.add_argument("--one-based", action="store_true",
                        help="predictions are MATLAB 1-based pixels: subtract 1 before scoring")
    arrays.add_argument("--results-key", help="variable / dataset / key holding the predictions")
    arrays.add_argument("--dataset", choices=("lsp", "flic", "h36m", "mpi_inf_3dhp"),
                        help="pdj: lsp (default) or flic; 3D metrics: told by the npz unless given")
    arrays.add_argument("--pcp-mode", choices=("strict", "loose"), default="strict", help="pcp (default strict)")
    arrays.add_argument("--alpha", type=float, default=0.5, help="pcp: fraction of the part length (default 0.5)")
    three = parser.add_argument_group("mpjpe / p-mpjpe / n-mpjpe / 3dpck")
    three.add_argument("--results-unit", choices=("m", "cm", "mm"), default="m",
                       help="unit of the 3D predictions (default m, as the npz files)")
    three.add_argument("--joint-set", choices=("official", "all"), default="official",
                       help="MPI-INF-3DHP: the official 14 joints or all 17 (MMPose 0.x)")
    three.add_argument("--trust-pickle", action="store_true",
                       help="allow a pickled --gt (VideoPose3D data_3d_h36m.npz); unpickling can run code")
    h36m = parser.add_argument_group("Human3.6M protocol frames (mpjpe / p-mpjpe / n-mpjpe / mpjve / 3dpck)")
    h36m.add_argument("--subjects", type=_subjects_arg, default=None, metavar="S9,S11|all",
                      help="subjects evaluated, comma-separated (default S9,S11: the test subjects of "
                           "VideoPose3D's protocols #1-#3); 'all' = every subject in --gt")
    h36m.add_argument("--cameras", type=_cameras_arg, default=None, metavar="ID,...|all",
                      help="camera ids evaluated, comma-separated, of 54138969, 55011271, 58860488, 60457274 "
                           "(default all four, as VideoPose3D)")
    h36m.add_argument("--frame-stride", type=_stride_arg, default=None, metavar="N",
                      help="keep every N-th frame of each sequence, counted on its frame numbers from the first "
                           "(not on the file's rows); default 1 = all 50 fps frames, as VideoPose3D")


def _subjects_arg(text: str) -> tuple[str, ...] | str:
    """``--subjects``: ``'all'`` or comma-separated ids (``S9``, ``s9`` or ``9`` -> ``S9``)."""
    import re

    if text.strip().lower() == "all":
        return "all"
    subjects = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        match = re.fullmatch(r"[Ss]?(\d+)", item)
        if match is None:
            raise argparse.ArgumentTypeError(f"{item!r} is not a Human3.6M subject (S1, S5, S6, S7, S8, S9, S11) "
                                             f"nor 'all'")
        subjects.append(f"S{int(match.group(1))}")
    if not subjects:
        raise argparse.ArgumentTypeError("give subjects such as S9,S11 or 'all'")
    return tuple(dict.fromkeys(subjects))


def _cameras_arg(text: str) -> tuple[str, ...]:
    """``--cameras``: ``'all'`` or comma-separated Human3.6M camera ids."""
    from posekit.data.readers.h36m import CAMERA_IDS

    if text.strip().lower() == "all":
        return CAMERA_IDS
    cameras = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [c for c in cameras if c not in CAMERA_IDS]
    if unknown or not cameras:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown) or repr(text)} is not a Human3.6M camera id "
                                         f"({', '.join(CAMERA_IDS)}) nor 'all'")
    return tuple(dict.fromkeys(cameras))


def _stride_arg(text: str) -> int:
    """``--frame-stride``: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


# --- COCO results ----------------------------------------------------------------------------------


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory instead of handing it back to the kernel.

    Reading a large results file allocates and frees the same few tens of MB of buffers for
    every chunk; by default glibc unmaps or trims them each time and the next chunk faults the
    pages back in, about a fifth of the command's time spent in the kernel. This process ends
    right after the evaluation, so keeping the memory is free. No-op where glibc is absent.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum
        libc.mallopt(m_trim_threshold, 1 << 30)
    except (OSError, AttributeError):
        pass


def load_inputs(gt_path: str, results_path: str, num_keypoints: int, keypoint_scores: bool = False):
    """``(CocoGroundTruth, CocoResults)`` read from the two files (``keypoint_scores``: keep the
    results' keypoint confidences, which ``drop_zero_confidence`` needs).

    Where the machine has a second core and ``fork`` exists, the two cores share the reading: a
    forked child parses the ground truth and the tail of the results file while this process
    parses its head, the cut placed so that both read about as many bytes (the readers' costs
    per byte are alike). Errors are raised here either way, the results' first. The child runs
    under :class:`concurrent.futures.ProcessPoolExecutor`, whose shutdown waits for it:
    ``multiprocessing.Pool`` terminates a busy worker on exit, which can hang for good when the
    results file is bad (CPython issues 78178, 96995; it hung a CI run here).
    """
    from posekit.metrics.coco_eval import load_coco_gt
    from posekit.metrics.json_io import read_coco_results, read_results_window, results_from_windows, results_split_offset

    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return (load_coco_gt(gt_path, num_keypoints=num_keypoints),
                read_coco_results(results_path, keypoint_scores=keypoint_scores))
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        gt_bytes, results_bytes = _size(gt_path), _size(results_path)
        cut = results_split_offset(results_path, (gt_bytes + results_bytes) / (2 * results_bytes)) \
            if results_bytes and gt_bytes < results_bytes else None
        tail = pool.submit(read_results_window, results_path, cut, None, keypoint_scores) if cut else None
        gt = pool.submit(load_coco_gt, gt_path, num_keypoints=num_keypoints)
        if cut:
            head = read_results_window(results_path, 0, cut, keypoint_scores)
            results = results_from_windows([head, tail.result()], results_path, keypoint_scores=keypoint_scores)
        else:
            results = read_coco_results(results_path, keypoint_scores=keypoint_scores)
        return gt.result(), results


def _size(path: str) -> int:
    """Bytes in ``path``; 0 when it cannot be read (the reader then reports why)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _skeleton(name: str):
    from posekit.skeletons import get_skeleton

    skeleton = get_skeleton(name)
    skeleton.sigmas_array  # ValueError when the skeleton has no sigmas
    return skeleton


def _run_coco(args: argparse.Namespace) -> int:
    from posekit.metrics.coco_eval import CocoEvalParams, coco_keypoint_breakdown, coco_keypoint_eval

    skeleton = _skeleton(args.skeleton)
    params = CocoEvalParams(sigmas=skeleton.sigmas_array, max_dets=args.max_dets, use_area=not args.box_area,
                            gt_ignore=args.gt_ignore, drop_zero_confidence=args.drop_zero_confidence)
    gt, results = load_inputs(args.gt, args.results, params.num_keypoints, args.drop_zero_confidence)
    if not args.breakdown:
        result = coco_keypoint_eval(gt, results, params)
        print(json.dumps(result.stats) if args.json else result.summary())
        return 0
    values = coco_keypoint_breakdown(gt, results, params, keypoint_names=skeleton.names)
    if args.json:
        print(json.dumps(values))
        return 0
    print("COCO keypoints (OKS 0.50:0.95)")
    _print_table("per area range", {label: {k: v for k, v in row.items() if k != "num_gt"}
                                    for label, row in values["areas"].items()}, digits=4)
    print("  GT per area range: " + ", ".join(f"{label} {row['num_gt']}" for label, row in values["areas"].items()))
    print("AP per keypoint (posekit's definition: the OKS of that keypoint alone; -1 where no GT labels it)")
    for name, value in values["per_keypoint"].items():
        print(f"  {name:<20} {value:.4f}")
    return 0


def _run_pck(args: argparse.Namespace) -> int:
    from posekit.metrics.pck import coco_pck

    skeleton = _skeleton(args.skeleton)
    sigmas = skeleton.sigmas_array
    thr = 0.05 if args.thr is None else args.thr
    gt, results = load_inputs(args.gt, args.results, len(sigmas))
    if len(results) and results.keypoints.shape[1] != len(sigmas):
        raise InputError(f"{results.source}: record 0: field 'keypoints' has {3 * results.keypoints.shape[1]} "
                         f"values, expected {3 * len(sigmas)} for skeleton {args.skeleton}")
    res, n_people, n_missing = coco_pck(gt, results, thr, sigmas, strict=not args.inclusive,
                                          norm=args.norm, skeleton=skeleton)
    values = {
        "PCK": res.macro,
        "PCK_pooled": res.pooled,
        "per_keypoint": {name: _number(v) for name, v in zip(skeleton.names, res.per_keypoint)},
        "threshold": res.threshold,
        "comparison": "<" if res.strict else "<=",
        "normaliser": args.norm,
        "instances": n_people,
        "instances_without_result": n_missing,
    }
    if args.json:
        print(json.dumps(values))
        return 0
    norm_text = "max(w, h)" if args.norm == "bbox" else "torso"
    print(f"PCK@{res.threshold:g} (error / {norm_text} {values['comparison']} thr), {n_people} people, "
          f"{values['instances_without_result']} without a result")
    print(f"  mean over keypoints (MMPose 'PCK'): {res.macro:.4f}")
    print(f"  pooled over all joints:             {res.pooled:.4f}")
    for name, v, n in zip(skeleton.names, res.per_keypoint, res.counts):
        print(f"  {name:<20} {v:.4f} ({n} joints)")
    return 0


def _run_crowdpose(args: argparse.Namespace) -> int:
    from posekit.metrics.crowdpose_eval import crowdpose_eval

    stats = crowdpose_eval(args.gt, args.results, drop_zero_confidence=args.drop_zero_confidence)
    if args.json:
        print(json.dumps(stats))
        return 0
    print("CrowdPose keypoints (OKS 0.50:0.95, crowdIndex easy < 0.2 <= medium < 0.8 <= hard)")
    for name, value in stats.items():
        print(f"  {name:<10} {value:.4f}")
    return 0


def _run_aic(args: argparse.Namespace) -> int:
    from posekit.metrics.aic_eval import aic_official_eval

    score = 100.0 * aic_official_eval(args.gt, args.results)
    print(json.dumps({"score": score}) if args.json else f"AI Challenger keypoint score (official): {score:.4f}")
    return 0


# --- prediction arrays -----------------------------------------------------------------------------


def _number(value: float) -> float | None:
    """JSON-safe float: NaN -> None."""
    value = float(value)
    return None if np.isnan(value) else value


def _pick(arrays: dict[str, Any], path: Path, key: str | None, preferred: tuple[str, ...]) -> np.ndarray:
    """The array named ``key``, else the first of ``preferred`` present, else the only array."""
    names = [k for k in arrays if not k.startswith("__")]
    if key is not None:
        if key not in arrays:
            raise InputError(f"{path}: field {key!r} is missing (present: {sorted(names)})")
        return np.asarray(arrays[key])
    for name in preferred:
        if name in arrays:
            return np.asarray(arrays[name])
    if len(names) != 1:
        raise InputError(f"{path}: holds {len(names)} arrays {sorted(names)}; name one with --results-key")
    return np.asarray(arrays[names[0]])


def load_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """The prediction array stored in ``path`` (``.npy``, ``.npz``, ``.mat``, ``.h5``/``.hdf5``,
    ``.json``), as float64; ``key`` names the variable where the file holds several."""
    path = Path(path)
    suffix = path.suffix.lower()
    preferred = ("preds", "pred", "predictions")
    if not path.is_file():
        raise InputError(f"{path}: No such file")
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                arr = _pick({k: npz[k] for k in npz.files}, path, key, preferred)
        elif suffix == ".mat":
            from posekit.data.readers.common import load_mat

            arr = _pick(load_mat(path), path, key, preferred)
        elif suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                arr = _pick({k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}, path, key, preferred)
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            arr = _pick(data, path, key, preferred) if isinstance(data, dict) else np.asarray(data)
        else:
            raise InputError(f"{path}: suffix {suffix!r} is not an array file (.npy .npz .mat .h5 .json)")
    except InputError:
        raise
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON: {err}") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: cannot be read as {suffix} ({err})") from None
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: field {key or 'predictions'!r} is not a numeric array") from None


def poses_2d(arr: np.ndarray, num_joints: int, source: str) -> np.ndarray:
    """``(N, K, 2)`` from ``(N, K, 2|3)`` or eval_pose's ``(2|3, K, N)``; InputError otherwise."""
    if arr.ndim == 3 and arr.shape[1] == num_joints and arr.shape[2] in (2, 3):
        return arr[:, :, :2]
    if arr.ndim == 3 and arr.shape[1] == num_joints and arr.shape[0] in (2, 3):
        return arr[:2].transpose(2, 1, 0)
    raise InputError(f"{source}: field 'predictions' has shape {arr.shape}, expected (N, {num_joints}, 2) "
                     f"or ({2}, {num_joints}, N)")


def _predictions(args: argparse.Namespace, num_joints: int) -> np.ndarray:
    pred = poses_2d(load_array(args.results, args.results_key), num_joints, args.results)
    return pred - 1.0 if args.one_based else pred


def _match_count(pred: np.ndarray, gt: np.ndarray, test: np.ndarray | None, args: argparse.Namespace) -> np.ndarray:
    """Ground truth rows the predictions cover: all, or the test split (``test`` bool mask)."""
    if len(pred) == len(gt):
        return gt
    if test is not None and len(pred) == int(test.sum()):
        return gt[test]
    split = f" or the {int(test.sum())} test images" if test is not None else ""
    raise InputError(f"{args.results}: field 'predictions' holds {len(pred)} poses; {args.gt} has "
                     f"{len(gt)} people{split}")


# --- MPII PCKh -------------------------------------------------------------------------------------


def mpii_ground_truth(path: str, head_boxes: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(gt (N, 16, 2), annotated (N, 16) bool, head_size (N,) float64)`` of an MPII file in
    reader order (module docstring); 0-based pixels."""
    from posekit.data.readers.common import load_mat
    from posekit.data.readers.mpii import HEAD_SIZE_FACTOR, read_mpii, read_mpii_eval_gt

    if Path(path).suffix.lower() == ".mat" and "pos_gt_src" in load_mat(path):
        joints, annotated, boxes = read_mpii_eval_gt(path)
        return joints, annotated, HEAD_SIZE_FACTOR * np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=1)
    kwargs = {"head_boxes": head_boxes} if head_boxes else {}
    samples = list(read_mpii(path, **kwargs))
    if not samples:
        raise InputError(f"{path}: holds no people")
    missing = next((s for s in samples if "head_sizes" not in s.meta), None)
    if missing is not None:
        raise InputError(f"{path}: image {missing.meta.get('file')}: field 'head_sizes' is missing "
                         f"(an MPII JSON needs --head-boxes gt_valid.mat)")
    gt = np.concatenate([s.keypoints for s in samples]).astype(np.float64)
    mask = np.concatenate([s.visibility for s in samples]) > 0
    heads = np.concatenate([np.asarray(s.meta["head_sizes"], np.float64) for s in samples])
    if Path(path).suffix.lower() in (".h5", ".json"):  # ids = record index in the file
        order = np.argsort(np.concatenate([s.ids for s in samples]), kind="stable")
        gt, mask, heads = gt[order], mask[order], heads[order]
    return gt, mask, heads


def _run_pckh(args: argparse.Namespace) -> dict[str, Any]:
    from posekit.metrics.pckh import mpii_pckh

    gt, mask, heads = mpii_ground_truth(args.gt, args.head_boxes)
    pred = _predictions(args, 16)
    _match_count(pred, gt, None, args)
    res = mpii_pckh(pred, gt, mask, heads, variant=args.variant)
    return {"metric": "pckh", "variant": args.variant, "people": len(gt), "table": res.table}


# --- LSP / FLIC ------------------------------------------------------------------------------------

#: FLIC10 (eval_pose) from posekit's 11-joint ``flic`` skeleton: nose, neck = mean(l_shoulder,
#: r_shoulder), r_shoulder, r_elbow, r_wrist, r_hip, l_shoulder, l_elbow, l_wrist, l_hip.
_FLIC11_TO_10 = (10, (0, 3), 3, 4, 5, 7, 0, 1, 2, 6)


def lsp_ground_truth(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(gt (N, 14, 2) 0-based, test (N,) bool)`` of an LSP ``joints.mat``."""
    from posekit.data.readers.lsp import read_lsp

    samples = list(read_lsp(path))
    gt = np.concatenate([s.keypoints for s in samples]).astype(np.float64)
    return gt, np.array([s.meta.get("split") == "test" for s in samples])


def flic_ground_truth(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(gt (N, 10, 2) 0-based in eval_pose's FLIC10 order, test (N,) bool or None)`` of FLIC's
    ``examples.mat`` struct or of eval_pose's ``joints`` array (``2 x 10 x N``, 1-based)."""
    from posekit.data.readers.common import load_mat
    from posekit.data.readers.flic import read_flic

    arrays = load_mat(path)
    joints = arrays.get("joints")
    if isinstance(joints, np.ndarray) and joints.ndim == 3 and joints.shape[:2] in ((2, 10), (3, 10)):
        return joints[:2].transpose(2, 1, 0).astype(np.float64) - 1.0, None
    samples = list(read_flic(path))
    kp11 = np.concatenate([s.keypoints for s in samples]).astype(np.float64)
    kp11[np.concatenate([s.visibility for s in samples]) == 0] = np.nan  # unlabelled joint: wrong, as eval_pose
    gt = np.stack([kp11[:, j] if isinstance(j, int) else kp11[:, list(j)].mean(axis=1) for j in _FLIC11_TO_10],
                  axis=1)
    return gt, np.array([s.meta.get("split") == "test" for s in samples])


def _torso_rows(res, thresholds: tuple[float, ...]) -> dict[str, dict[str, float]]:
    return {f"{t:g}": res.at(t) for t in thresholds}


def _run_torso(args: argparse.Namespace) -> dict[str, Any]:
    from posekit.metrics.lsp_flic import FLIC10, LSP14, PCK_THRESHOLDS, pdj, torso_pck

    flic = args.metric == "flic-pck" or (args.metric == "pdj" and args.dataset == "flic")
    gt, test = flic_ground_truth(args.gt) if flic else lsp_ground_truth(args.gt)
    layout = FLIC10 if flic else LSP14
    pred = _predictions(args, len(layout.joints))
    gt = _match_count(pred, gt, test, args)
    if args.metric == "pdj":
        res = pdj(pred, gt, layout)
        return {"metric": "pdj", "layout": layout.name, "images": len(gt),
                "table": _torso_rows(res, (0.1, 0.2, 0.3, 0.4)), "AUC": res.auc}
    thr = 0.2 if args.thr is None else args.thr
    thresholds = PCK_THRESHOLDS if thr <= 0.2 else np.append(PCK_THRESHOLDS, thr)
    res = torso_pck(pred, gt, layout, thresholds)
    return {"metric": args.metric, "layout": layout.name, "images": len(gt), "threshold": thr,
            "table": {f"{thr:g}": res.at(thr)}, "AUC": float(res.auc) if thr <= 0.2 else None}


def _run_pcp(args: argparse.Namespace) -> dict[str, Any]:
    from posekit.metrics.pcp import pcp

    gt, test = lsp_ground_truth(args.gt)
    pred = _predictions(args, 14)
    gt = _match_count(pred, gt, test, args)
    res = pcp(pred, gt, alpha=args.alpha, mode=args.pcp_mode)
    return {"metric": "pcp", "mode": res.mode, "alpha": res.alpha, "images": len(gt),
            "table": {"PCP": {**res.groups, "Mean": res.mean}}}


# --- 3D --------------------------------------------------------------------------------------------


def _dataset_3d(path: str, dataset: str | None) -> str:
    if dataset in ("h36m", "mpi_inf_3dhp"):
        return dataset
    from posekit.data.readers.h36m import parse_h36m_image_name

    try:
        with np.load(path, allow_pickle=False) as npz:
            if "positions_3d" in npz.files and "imgname" not in npz.files:
                return "h36m"  # VideoPose3D data_3d_h36m.npz
            names = npz["imgname"] if "imgname" in npz.files else None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: cannot be read as an npz ({err})") from None
    if names is None:
        raise InputError(f"{path}: field 'imgname' is missing: not an MMPose Human3.6M / MPI-INF-3DHP npz "
                         f"(nor VideoPose3D's data_3d_h36m.npz with 'positions_3d')")
    first = str(names[0]) if len(names) else ""
    try:
        parse_h36m_image_name(first)
        return "h36m"
    except ValueError:
        return "mpi_inf_3dhp"


def ground_truth_3d(path: str, dataset: str, trust_pickle: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """``(gt (N, J, 3) metres, mask (N, J) bool, metas)`` of an MMPose npz (camera frame, rows in
    file order) or of VideoPose3D's ``data_3d_h36m.npz`` (world frame, subject -> action ->
    frame order, every joint scored; a pickle, read only with ``trust_pickle``)."""
    from posekit.data.readers import read_dataset

    samples = list(read_dataset(dataset, path, trust_pickle=trust_pickle))
    if samples and all("keypoints_3d_world" in s.meta for s in samples):  # VideoPose3D
        gt = np.concatenate([s.meta["keypoints_3d_world"] for s in samples]).astype(np.float64)
        return gt, np.ones(gt.shape[:2], dtype=bool), [s.meta for s in samples]
    if not samples or any(s.keypoints_3d is None for s in samples):
        raise InputError(f"{path}: field 'S' is missing: the file holds no 3D ground truth")
    order = np.argsort(np.concatenate([s.ids for s in samples]), kind="stable")
    samples = [samples[i] for i in order]
    gt = np.concatenate([s.keypoints_3d for s in samples]).astype(np.float64)
    mask = np.concatenate([np.asarray(s.meta["visibility_3d"]) for s in samples]) > 0
    return gt, mask, [s.meta for s in samples]


def _run_3d(args: argparse.Namespace) -> dict[str, Any]:
    from posekit.metrics.mpjpe import UNIT_TO_MM

    dataset = _dataset_3d(args.gt, args.dataset)
    gt, mask, metas = ground_truth_3d(args.gt, dataset, args.trust_pickle)
    pred = load_array(args.results, args.results_key) * (UNIT_TO_MM[args.results_unit] / 1000.0)
    selection = None
    if dataset == "h36m":
        index, selection = h36m_protocol_frames(metas, args)
        kept_shape = (len(index),) + gt.shape[1:]
        if pred.shape == gt.shape:
            pred = pred[index]
        elif pred.shape != kept_shape:
            either = f" or {kept_shape} (one per kept frame)" if kept_shape != gt.shape else ""
            raise InputError(f"{args.results}: field 'predictions' has shape {pred.shape}, expected {gt.shape} "
                             f"(one (J, 3) pose per row of {args.gt}){either}")
        gt, mask, metas = gt[index], mask[index], [metas[i] for i in index]
    else:
        given = [flag for flag, value in (("--subjects", args.subjects), ("--cameras", args.cameras),
                                          ("--frame-stride", args.frame_stride)) if value is not None]
        if given:
            raise InputError(f"{args.gt}: {', '.join(given)} select Human3.6M frames; this file is {dataset}")
        if pred.shape != gt.shape:
            raise InputError(f"{args.results}: field 'predictions' has shape {pred.shape}, expected {gt.shape} "
                             f"(one (J, 3) pose per row of {args.gt})")
    alignment = {"mpjpe": "none", "p-mpjpe": "procrustes", "n-mpjpe": "scale", "mpjve": "none",
                 "3dpck": "none"}[args.metric]
    out: dict[str, Any] = {"metric": args.metric, "dataset": dataset, "frames": len(gt), "alignment": alignment}
    if selection is not None:
        out["selection"] = selection
    if args.metric == "mpjve":
        return _run_mpjve(pred, gt, mask, metas, dataset, args, out)
    if dataset == "mpi_inf_3dhp":
        from posekit.metrics.protocols import mpi_inf_3dhp_report

        rep = mpi_inf_3dhp_report(pred, gt, mask, joint_set=args.joint_set, alignment=alignment, unit="m",
                                  sequences=[str(m.get("sequence")) for m in metas])
        out.update({"3DPCK": 100 * rep.pck, "AUC": 100 * rep.auc, "MPJPE_mm": rep.mpjpe,
                    "per_group_3DPCK": {k: 100 * v for k, v in rep.per_group_pck.items()},
                    "per_sequence": {k: {"3DPCK": 100 * p, "AUC": 100 * a, "MPJPE_mm": e}
                                     for k, (p, a, e) in rep.per_sequence.items()},
                    "joint_set": args.joint_set})
        return out
    from dataclasses import replace

    from posekit.metrics.pck3d import AUC_THRESHOLDS_MM, PCK3D_THRESHOLD_MM, auc3d_from_errors, pck3d_from_errors
    from posekit.metrics.protocols import VIDEOPOSE3D_P1, h36m_errors, h36m_report

    protocol = replace(VIDEOPOSE3D_P1, name=f"h36m-{args.metric}", alignment=alignment)
    if args.metric == "3dpck":
        errors = h36m_errors(pred, gt, protocol) * 1000.0
        out.update({"3DPCK": 100 * pck3d_from_errors(errors, PCK3D_THRESHOLD_MM, mask),
                    "AUC": 100 * auc3d_from_errors(errors, AUC_THRESHOLDS_MM, mask)})
        return out
    rep = h36m_report(pred, gt, [str(m["action"]) for m in metas], protocol, mask, unit="m")
    out.update({"action_mean_mm": rep.action_mean, "frame_mean_mm": rep.frame_mean, "per_action_mm": rep.per_action,
                "missing_actions": list(rep.missing_actions)})
    return out


def h36m_protocol_frames(metas: list[dict[str, Any]], args: argparse.Namespace
                         ) -> tuple[np.ndarray, dict[str, Any]]:
    """``(index (M,), selection)``: the rows of a Human3.6M ground truth (reader ``metas``, file
    order) that the protocol chosen by ``--subjects`` / ``--cameras`` / ``--frame-stride``
    evaluates (defaults: :data:`~posekit.metrics.protocols.VIDEOPOSE3D_P1`'s test subjects S9 and
    S11, all four cameras, every frame), selected by
    :func:`~posekit.metrics.protocols.select_h36m_rows`. MMPose npz rows carry 1-based frame
    numbers (``..._000001.jpg``), VideoPose3D rows 0-based frame indices; either way the stride
    keeps a sequence's first frame and every N-th after it. VideoPose3D's world-frame
    ``positions_3d`` has no camera: all rows pass unless ``--cameras`` names a subset (an error).

    ``selection`` (reported with the results): ``subjects``, ``cameras`` (``None``: the file has
    no camera), ``frame_stride``, ``rows_in_file``, ``kept_per_subject``. :class:`InputError`
    naming the file and field when nothing is kept.
    """
    from dataclasses import replace

    from posekit.data.readers.h36m import CAMERA_IDS
    from posekit.metrics.protocols import VIDEOPOSE3D_P1, select_h36m_rows

    videopose3d = bool(metas) and "keypoints_3d_world" in metas[0]
    field = "positions_3d" if videopose3d else "imgname"
    present = sorted({str(m["subject"]) for m in metas}, key=lambda s: (len(s), s))
    subjects = tuple(present) if args.subjects == "all" else args.subjects or VIDEOPOSE3D_P1.test_subjects
    cameras = args.cameras or CAMERA_IDS
    protocol = replace(VIDEOPOSE3D_P1, name="posekit-eval", test_subjects=subjects, cameras=cameras,
                       frame_stride=args.frame_stride or 1)
    has_cameras = any(m.get("camera") is not None for m in metas)
    if not has_cameras and set(protocol.cameras) != set(CAMERA_IDS):
        raise InputError(f"{args.gt}: field '{field}' holds world-frame poses with no camera: --cameras "
                         f"{','.join(protocol.cameras)} cannot select among them (leave --cameras out)")
    rows = [(str(m["subject"]), m.get("camera"), int(m["frame"])) for m in metas]
    index = select_h36m_rows(rows, protocol.test_subjects, protocol.cameras if has_cameras else None,
                             protocol.frame_stride, first_frame=0 if videopose3d else 1)
    if index.size == 0:
        in_file = ", ".join(present) or "none"
        file_cameras = sorted({str(m["camera"]) for m in metas if m.get("camera") is not None})
        raise InputError(f"{args.gt}: field '{field}': no row is kept by the Human3.6M protocol filter (subjects "
                         f"{','.join(protocol.test_subjects)}; cameras {','.join(protocol.cameras)}; frame stride "
                         f"{protocol.frame_stride}); the file holds subjects {in_file}"
                         + (f" and cameras {', '.join(file_cameras)}" if file_cameras else "")
                         + ": choose others with --subjects / --cameras / --frame-stride")
    kept = [rows[i][0] for i in index]
    selection = {"subjects": list(protocol.test_subjects),
                 "cameras": list(protocol.cameras) if has_cameras else None,
                 "frame_stride": protocol.frame_stride, "rows_in_file": len(metas),
                 "kept_per_subject": {s: kept.count(s) for s in protocol.test_subjects}}
    return index, selection


def sequence_steps(metas: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``(earlier, later)`` row indices of consecutive frames of one sequence: rows grouped by
    (subject, action or sequence, camera), ordered by ``frame``, each row paired with the next."""
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for i, meta in enumerate(metas):
        key = (meta.get("subject"), meta.get("action", meta.get("sequence")), meta.get("camera"))
        groups.setdefault(key, []).append((int(meta["frame"]), i))
    earlier, later = [], []
    for rows in groups.values():
        rows.sort()
        earlier += [i for _, i in rows[:-1]]
        later += [i for _, i in rows[1:]]
    return np.asarray(earlier, dtype=np.int64), np.asarray(later, dtype=np.int64)


def _run_mpjve(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, metas: list[dict[str, Any]], dataset: str,
               args: argparse.Namespace, out: dict[str, Any]) -> dict[str, Any]:
    """MPJVE (VideoPose3D ``mean_velocity_error``): root-relative poses, first differences between
    consecutive frames of each sequence, then MPJPE of the differences, in mm per frame step."""
    from dataclasses import replace

    from posekit.metrics.mpjpe import masked_mean, root_relative
    from posekit.metrics.protocols import (MPI_INF_3DHP_OFFICIAL_JOINTS, MPI_INF_3DHP_ROOT, VIDEOPOSE3D_P1,
                                           h36m_report)

    a, b = sequence_steps(metas)
    if a.size == 0:
        raise InputError(f"{args.gt}: no sequence holds two frames: MPJVE needs consecutive frames")
    root = MPI_INF_3DHP_ROOT if dataset == "mpi_inf_3dhp" else 0
    pred_rr, gt_rr = root_relative(pred, root), root_relative(gt, root)
    dpred, dgt = pred_rr[b] - pred_rr[a], gt_rr[b] - gt_rr[a]
    step_mask = mask[a] & mask[b]
    out["steps"] = int(a.size)
    if dataset == "mpi_inf_3dhp":
        if args.joint_set == "official":
            step_mask[:, [j for j in range(17) if j not in MPI_INF_3DHP_OFFICIAL_JOINTS]] = False
        errors = 1000.0 * np.linalg.norm(dpred - dgt, axis=-1)
        sequences = np.array([str(metas[i].get("sequence")) for i in b])
        out.update({"MPJVE_mm": masked_mean(errors, step_mask), "joint_set": args.joint_set,
                    "per_sequence": {name: masked_mean(errors[sequences == name], step_mask[sequences == name])
                                     for name in sorted(set(sequences.tolist()))
                                     if step_mask[sequences == name].any()}})
        return out
    protocol = replace(VIDEOPOSE3D_P1, name="h36m-mpjve", root_relative=False)
    report = h36m_report(dpred, dgt, [str(metas[i]["action"]) for i in b], protocol, step_mask, unit="m")
    out.update({"action_mean_mm": report.action_mean, "frame_mean_mm": report.frame_mean,
                "per_action_mm": report.per_action, "missing_actions": list(report.missing_actions)})
    return out


# --- printing --------------------------------------------------------------------------------------


def _print_table(title: str, rows: dict[str, dict[str, float]], digits: int = 2) -> None:
    """Rows of named columns under a title, values with ``digits`` decimals."""
    print(title)
    columns = list(next(iter(rows.values())))
    width = max(8, *(len(c) + 1 for c in columns))
    label = max(6, *(len(r) + 1 for r in rows))
    print(" " * label + "".join(f"{c:>{width}}" for c in columns))
    for name, row in rows.items():
        print(f"{name:<{label}}" + "".join(f"{row[c]:>{width}.{digits}f}" for c in columns))


def _print_selection(values: dict[str, Any]) -> None:
    """The Human3.6M protocol filter's line: frames kept per subject, cameras, stride."""
    sel = values.get("selection")
    if sel is None:
        return
    per_subject = ", ".join(f"{s} {n}" for s, n in sel["kept_per_subject"].items())
    cameras = "none in the file (world frame)" if sel["cameras"] is None else (
        "all 4" if len(sel["cameras"]) == 4 else ", ".join(sel["cameras"]))
    stride = "every frame" if sel["frame_stride"] == 1 else f"every {sel['frame_stride']}-th frame"
    print(f"  frames kept: {values['frames']} of {sel['rows_in_file']} rows (subjects {per_subject}; "
          f"cameras {cameras}; frame stride {sel['frame_stride']}: {stride})")


def _print_report(values: dict[str, Any]) -> None:
    metric = values["metric"]
    if metric == "pckh":
        _print_table(f"MPII PCKh ({values['variant']}), {values['people']} people", {"PCKh": values["table"]})
    elif metric in ("lsp-pck", "flic-pck", "pdj", "pcp"):
        what = {"pdj": "PDJ", "pcp": f"PCP ({values.get('mode')}, alpha {values.get('alpha')})"}.get(metric, "PCK")
        _print_table(f"{values.get('layout', 'lsp14')} {what}, {values['images']} images, threshold per row",
                     values["table"])
        if values.get("AUC") is not None:
            print(f"AUC: {values['AUC']:.2f}")
    elif metric == "mpjve" and values["dataset"] == "mpi_inf_3dhp":
        print(f"MPI-INF-3DHP MPJVE ({values['joint_set']} joints, root-relative), {values['steps']} frame steps")
        print(f"  MPJVE {values['MPJVE_mm']:.2f} mm")
        for name, value in values["per_sequence"].items():
            print(f"  {name:<8} {value:.2f} mm")
    elif values["dataset"] == "mpi_inf_3dhp":
        print(f"MPI-INF-3DHP ({values['joint_set']} joints, alignment {values['alignment']}), "
              f"{values['frames']} frames")
        print(f"  3DPCK@150mm {values['3DPCK']:.2f}   AUC {values['AUC']:.2f}   MPJPE {values['MPJPE_mm']:.2f} mm")
        _print_table("  3DPCK per group", {"3DPCK": values["per_group_3DPCK"]})
        for name, row in values["per_sequence"].items():
            print(f"  {name:<8} 3DPCK {row['3DPCK']:.2f}   AUC {row['AUC']:.2f}   MPJPE {row['MPJPE_mm']:.2f} mm")
    elif metric == "3dpck":
        print(f"Human3.6M 3DPCK@150mm (root-relative, 17 joints), {values['frames']} frames")
        _print_selection(values)
        print(f"  3DPCK {values['3DPCK']:.2f}   AUC {values['AUC']:.2f}")
    else:
        steps = f", {values['steps']} frame steps" if metric == "mpjve" else ""
        print(f"Human3.6M {metric.upper()} (root-relative, alignment {values['alignment']}), {values['frames']} "
              f"frames{steps}")
        _print_selection(values)
        print(f"  action mean {values['action_mean_mm']:.2f} mm   frame mean {values['frame_mean_mm']:.2f} mm")
        for action, value in values["per_action_mm"].items():
            print(f"  {action:<14} {value:.2f} mm")
        if values["missing_actions"]:
            print(f"  no frame of: {', '.join(values['missing_actions'])} (action mean not comparable with "
                  f"published tables)")


_RUNNERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "pckh": _run_pckh, "lsp-pck": _run_torso, "flic-pck": _run_torso, "pdj": _run_torso, "pcp": _run_pcp,
    **{m: _run_3d for m in METRICS_3D},
}


def run(args: argparse.Namespace) -> int:
    from posekit.metrics.json_io import CocoFormatError

    _keep_freed_memory()
    try:
        if args.metric == "coco":
            return _run_coco(args)
        if args.metric == "pck":
            return _run_pck(args)
        if args.metric == "crowdpose":
            return _run_crowdpose(args)
        if args.metric == "aic":
            return _run_aic(args)
        values = _RUNNERS[args.metric](args)
        if args.json:
            print(json.dumps(values))
        else:
            _print_report(values)
        return 0
    except (CocoFormatError, ValueError) as exc:
        message = str(exc)
        if "trust_pickle=True" in message:
            message = message.replace("trust_pickle=True", "--trust-pickle")
    except OSError as exc:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
    print(f"posekit eval: error: {message}", file=sys.stderr)
    return 2
