"""Benchmark: every 2D metric of ``posekit eval``, from files to numbers, against COCO AP.

    python bench/bench_metrics_2d.py [--cache /tmp/posekit_bench] [--runs 3] [--no-pycocotools]

Data: the synthetic 5,000-image set and its results file of ``bench/bench_coco_eval.py``
(``posekit synth --mode scene --num 5000 --seed 0 --size 256`` + ``results_20.json``, built with
that script's functions when absent). From that one set, the input each metric reads natively
is written once (untimed, cached under ``<set>/metrics2d/``):

- ``coco``, ``pck``: the two COCO files as they are.
- ``crowdpose``: a COCO-style GT with 14 keypoints per person (``synth30 -> crowdpose14`` with
  :func:`posekit.skeletons.convert_keypoints` on each annotation's ``joints_2d_all``/``vis_all``),
  ``num_keypoints`` = count of ``v == 2`` (as CrowdPose), and ``images[].crowdIndex`` computed as
  CrowdPose defines it: the mean over the image's people of (labelled joints of *other* people
  inside the person's box) / (the person's own labelled joints). Results: every COCO result
  converted to 14 joints (see *predicted joints* below), the score per joint kept.
- ``aic``: the raw AI Challenger pair. GT per image ``human_annotations`` (box ``x1 y1 x2 y2``)
  and ``keypoint_annotations`` (``synth30 -> aic14``; COCO visibility 2 -> AIC 1, 1 -> 2,
  0 -> 3); predictions: every COCO result of the image, converted to ``aic14``.
- ``pckh``: Newell's ``valid.h5`` (one row per non-crowd person, MATLAB 1-based, unlabelled
  joints at (0, 0)); the head size (``normalize``) is derived from the synthetic head geometry:
  the head box is the square centred between ``head_top`` and ``neck`` of ``synth30`` with side
  ``|head_top - neck|``, and the size is MPII's ``0.6 * |box diagonal|`` (= 0.6 * sqrt(2) * side).
  Predictions: ``(N, 16, 2)`` ``.npy``, 0-based.
- ``lsp-pck``, ``pdj``, ``pcp``: an LSP ``joints.mat`` (``3 x 14 x N``, 1-based, flag 1 where the
  synthetic joint is labelled) with one "image" per non-crowd person, and ``preds`` ``(N, 14, 2)``
  0-based in a ``.mat``.
- ``flic-pck`` (and ``pdj --dataset flic``): eval_pose's FLIC ``joints`` array ``2 x 10 x N``
  (1-based; FLIC10 order nose, neck = mid-shoulders, r sho/elb/wri/hip, l sho/elb/wri/hip, from
  ``synth30 -> flic``), ``preds`` ``(N, 10, 2)`` 0-based in a ``.mat``.

Predicted joints (the results file holds COCO-17 poses only): joints of the target skeleton
named in COCO-17 are copied; ``neck``/``thorax``/``upper_neck`` = mid-shoulders, ``pelvis`` =
mid-hips, and ``head_top`` (which COCO-17 cannot give) = ``nose + 0.5 * (nose - mid-shoulders)``,
a fixed guess; a derived joint's score is the mean of its sources'. For the one-pose-per-person
array metrics, each GT person gets the result of its image whose COCO joints are nearest its
labelled COCO joints (mean distance). The metric *values* therefore mean little (the head-top
guess is poor); the benchmark is about the time from files to numbers.

Timing: each round runs, as whole processes, ``posekit eval --metric NAME ... --json`` for every
2D metric, ``posekit eval --metric coco`` (COCO AP, the reference of the 2x limit) and, for
context, pycocotools on the COCO pair, in an order rotated every round; the median wall time of
``--runs`` rounds is reported with each process's CPU time (user + sys). posekit is byte-compiled
first, as a pip install does. Output: ``bench/results/metrics_2d.md`` and ``.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_coco_eval import PYCOCOTOOLS, make_results, synth_gt, timed  # noqa: E402
from machine import machine_info  # noqa: E402

from posekit.skeletons import convert_keypoints, get_skeleton  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
LIMIT = 2.0
#: FLIC10 (eval_pose) from the 11-joint ``flic`` skeleton; ``neck`` = mean of the two shoulders.
FLIC10_NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "right_hip",
                "left_shoulder", "left_elbow", "left_wrist", "left_hip")


# --- ground truth from the synthetic superset ------------------------------------------------------


def _persons(gt: dict) -> list[dict]:
    """Non-crowd annotations, GT order."""
    return [a for a in gt["annotations"] if not a.get("iscrowd")]


def _superset(ann: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(joints (30, 2) 0-based, visibility (30,) COCO codes)`` of one synthetic annotation."""
    return np.asarray(ann["joints_2d_all"], np.float64), np.asarray(ann["vis_all"], np.int64)


def _gt_in(ann: dict, dst: str) -> tuple[np.ndarray, np.ndarray]:
    xy, vis = _superset(ann)
    return convert_keypoints(xy, "synth30", dst, vis)


def _flic10(xy: np.ndarray, vis: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """FLIC10 joints ``(..., 10, C)`` from joints named ``names``; neck = mid-shoulders."""
    idx = {n: i for i, n in enumerate(names)}
    cols, vcols = [], []
    for name in FLIC10_NAMES:
        src = [idx["left_shoulder"], idx["right_shoulder"]] if name == "neck" else [idx[name]]
        cols.append(xy[..., src, :].mean(axis=-2))
        vcols.append(vis[..., src].min(axis=-1))
    return np.stack(cols, axis=-2), np.stack(vcols, axis=-1)


# --- predictions from the COCO-17 results ----------------------------------------------------------


def from_coco17(kps: np.ndarray, dst: str) -> np.ndarray:
    """``(..., K_dst, 3)`` x, y, score of the skeleton ``dst`` from COCO-17 ``(..., 17, 3)``
    (module docstring, *predicted joints*)."""
    coco = {n: i for i, n in enumerate(get_skeleton("coco17").names)}
    mid_sho = kps[..., [coco["left_shoulder"], coco["right_shoulder"]], :].mean(axis=-2)
    mid_hip = kps[..., [coco["left_hip"], coco["right_hip"]], :].mean(axis=-2)
    nose = kps[..., coco["nose"], :]
    derived = {"neck": mid_sho, "thorax": mid_sho, "upper_neck": mid_sho, "pelvis": mid_hip,
               "head_top": np.concatenate([nose[..., :2] + 0.5 * (nose[..., :2] - mid_sho[..., :2]),
                                           (nose[..., 2:] + mid_sho[..., 2:]) / 2], axis=-1)}
    out = [kps[..., coco[n], :] if n in coco else derived[n] for n in get_skeleton(dst).names]
    return np.stack(out, axis=-2)


def _results_by_image(results: list) -> dict[int, np.ndarray]:
    by: dict[int, list] = {}
    for r in results:
        by.setdefault(r["image_id"], []).append(r)
    return {k: (np.array([r["keypoints"] for r in v], np.float64).reshape(-1, 17, 3),
                np.array([r["score"] for r in v], np.float64)) for k, v in by.items()}


def _nearest_result(ann: dict, dets: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """``(17, 3)``: the result of the image nearest the person's labelled COCO joints (zeros if none)."""
    if dets is None or len(dets[0]) == 0:
        return np.zeros((17, 3))
    kps = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
    lab = kps[:, 2] > 0
    if not lab.any():
        return dets[0][int(np.argmax(dets[1]))]
    dist = np.linalg.norm(dets[0][:, lab, :2] - kps[None, lab, :2], axis=2).mean(axis=1)
    return dets[0][int(np.argmin(dist))]


# --- writers -----------------------------------------------------------------------------------------


def crowd_index(boxes: np.ndarray, joints: np.ndarray, labelled: np.ndarray) -> float:
    """CrowdPose's crowd index of one image: ``boxes (P, 4)`` xywh, ``joints (P, K, 2)``,
    ``labelled (P, K)`` bool; mean over people with a labelled joint of N_b / N_a."""
    ratios = []
    for i, (x, y, w, h) in enumerate(boxes):
        n_a = int(labelled[i].sum())
        if n_a == 0:
            continue
        other = np.delete(np.arange(len(boxes)), i)
        pts = joints[other][labelled[other]]
        inside = (pts[:, 0] >= x) & (pts[:, 0] <= x + w) & (pts[:, 1] >= y) & (pts[:, 1] <= y + h)
        ratios.append(int(inside.sum()) / n_a)
    return float(np.mean(ratios)) if ratios else 0.0


def write_crowdpose(gt: dict, results: list, out: Path) -> tuple[Path, Path]:
    anns, per_image = [], {}
    for a in gt["annotations"]:
        xy, vis = _gt_in(a, "crowdpose14")
        kp = np.concatenate([np.where(vis[:, None] > 0, np.round(xy, 2), 0), vis[:, None]], axis=1)
        anns.append({"id": a["id"], "image_id": a["image_id"], "category_id": 1, "iscrowd": a.get("iscrowd", 0),
                     "bbox": a["bbox"], "num_keypoints": int((vis == 2).sum()),
                     "keypoints": [float(v) if j % 3 < 2 else int(v) for j, v in enumerate(kp.ravel())]})
        if not a.get("iscrowd"):
            per_image.setdefault(a["image_id"], []).append((a["bbox"], xy, vis > 0))
    images = []
    for img in gt["images"]:
        people = per_image.get(img["id"], [])
        ci = crowd_index(np.array([p[0] for p in people]).reshape(-1, 4), np.array([p[1] for p in people]),
                         np.array([p[2] for p in people])) if people else 0.0
        images.append({"id": img["id"], "file_name": img["file_name"], "width": img["width"],
                       "height": img["height"], "crowdIndex": round(ci, 4)})
    names = list(get_skeleton("crowdpose14").names)
    gt_path, res_path = out / "crowdpose_gt.json", out / "crowdpose_results.json"
    gt_path.write_text(json.dumps({"images": images, "annotations": anns,
                                   "categories": [{"id": 1, "name": "person", "keypoints": names}]}))
    recs = []
    for r in results:
        kp = from_coco17(np.asarray(r["keypoints"], np.float64).reshape(17, 3), "crowdpose14").astype(np.float32)
        recs.append({"image_id": r["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(),
                     "score": r["score"]})
    res_path.write_text(json.dumps(recs))
    return gt_path, res_path


def write_aic(gt: dict, results: list, out: Path) -> tuple[Path, Path]:
    to_aic = np.array([3, 2, 1])  # COCO visibility 0/1/2 -> AIC 3 (unlabelled) / 2 (occluded) / 1 (visible)
    by_image: dict[int, dict] = {img["id"]: {"h": {}, "k": {}} for img in gt["images"]}
    for a in _persons(gt):
        xy, vis = _gt_in(a, "aic14")
        x, y, w, h = a["bbox"]
        rec = by_image[a["image_id"]]
        key = f"human{len(rec['h']) + 1}"
        rec["h"][key] = [round(x), round(y), round(x + w), round(y + h)]
        kp = np.concatenate([np.where(vis[:, None] > 0, np.round(xy), 0), to_aic[vis][:, None]], axis=1)
        rec["k"][key] = [int(v) for v in kp.ravel()]
    name = {img["id"]: Path(img["file_name"]).stem for img in gt["images"]}
    gt_records = [{"image_id": name[i], "human_annotations": r["h"], "keypoint_annotations": r["k"]}
                  for i, r in by_image.items()]
    preds: dict[int, dict] = {}
    for r in results:
        kp = from_coco17(np.asarray(r["keypoints"], np.float64).reshape(17, 3), "aic14")
        people = preds.setdefault(r["image_id"], {})
        people[f"human{len(people) + 1}"] = [round(float(v), 2) for v in
                                             np.concatenate([kp[:, :2], np.ones((14, 1))], axis=1).ravel()]
    pred_records = [{"image_id": name[i], "keypoint_annotations": p} for i, p in preds.items()]
    gt_path, res_path = out / "aic_annotations.json", out / "aic_predictions.json"
    gt_path.write_text(json.dumps(gt_records))
    res_path.write_text(json.dumps(pred_records))
    return gt_path, res_path


def _nearest_all(gt: dict, results: list) -> np.ndarray:
    """``(N, 17, 3)``: one result per non-crowd GT person (``_nearest_result``), GT order."""
    by = _results_by_image(results)
    return np.stack([_nearest_result(a, by.get(a["image_id"])) for a in _persons(gt)])


def write_mpii_h5(gt: dict, pred17: np.ndarray, out: Path) -> tuple[Path, Path]:
    import h5py

    people = _persons(gt)
    sk = get_skeleton("synth30").names
    top, neck = sk.index("head_top"), sk.index("neck")
    part, visible, center, scale, normalize, names = [], [], [], [], [], []
    files = {img["id"]: img["file_name"] for img in gt["images"]}
    for a in people:
        xy, vis = _gt_in(a, "mpii16")
        part.append(np.where(vis[:, None] > 0, xy + 1.0, 0.0))  # 1-based; (0, 0) = not annotated
        visible.append((vis == 2).astype(np.float64))
        x, y, w, h = a["bbox"]
        s = max(h, 1.0) / 200.0
        center.append([x + w / 2 + 1.0, y + h / 2 + 1.0 + 15.0 * s])
        scale.append(1.25 * s)
        sxy, _ = _superset(a)
        side = float(np.linalg.norm(sxy[top] - sxy[neck]))
        normalize.append(0.6 * np.sqrt(2.0) * max(side, 1.0))
        names.append(files[a["image_id"]].encode())
    gt_path, res_path = out / "mpii_valid.h5", out / "mpii_preds.npy"
    with h5py.File(gt_path, "w") as f:
        f["imgname"] = np.array(names)
        f["part"] = np.array(part)
        f["visible"] = np.array(visible)
        f["center"] = np.array(center)
        f["scale"] = np.array(scale)
        f["normalize"] = np.array(normalize)
    np.save(res_path, from_coco17(pred17, "mpii16")[..., :2])
    return gt_path, res_path


def write_lsp(gt: dict, pred17: np.ndarray, out: Path) -> tuple[Path, Path]:
    from scipy.io import savemat

    rows = []
    for a in _persons(gt):
        xy, vis = _gt_in(a, "lsp14")
        rows.append(np.concatenate([xy + 1.0, (vis > 0)[:, None].astype(np.float64)], axis=1))
    gt_path, res_path = out / "lsp_joints.mat", out / "lsp_preds.mat"
    savemat(gt_path, {"joints": np.stack(rows).transpose(2, 1, 0)})  # 3 x 14 x N
    savemat(res_path, {"preds": from_coco17(pred17, "lsp14")[..., :2]})
    return gt_path, res_path


def write_flic(gt: dict, pred17: np.ndarray, out: Path) -> tuple[Path, Path]:
    from scipy.io import savemat

    rows = []
    for a in _persons(gt):
        xy, vis = _gt_in(a, "flic")
        rows.append(_flic10(xy, vis, get_skeleton("flic").names)[0])
    pred, _ = _flic10(pred17[..., :2], np.ones(pred17.shape[:-1]), get_skeleton("coco17").names)
    gt_path, res_path = out / "flic_joints.mat", out / "flic_preds.mat"
    savemat(gt_path, {"joints": (np.stack(rows) + 1.0).transpose(2, 1, 0)})  # 2 x 10 x N, 1-based
    savemat(res_path, {"preds": pred})
    return gt_path, res_path


def prepare(gt_path: Path, res_path: Path) -> dict[str, list[str]]:
    """``posekit eval`` arguments per benchmarked entry; inputs built once under ``metrics2d/``."""
    out = gt_path.parent / "metrics2d"
    done = out / "done.json"
    if not done.exists():
        out.mkdir(parents=True, exist_ok=True)
        print("preparing metric inputs under", out, flush=True)
        gt = json.loads(gt_path.read_text())
        results = json.loads(res_path.read_text())
        files = {"crowdpose": write_crowdpose(gt, results, out), "aic": write_aic(gt, results, out)}
        pred17 = _nearest_all(gt, results)
        files["mpii"] = write_mpii_h5(gt, pred17, out)
        files["lsp"] = write_lsp(gt, pred17, out)
        files["flic"] = write_flic(gt, pred17, out)
        done.write_text(json.dumps({k: [str(p) for p in v] for k, v in files.items()}))
    f = json.loads(done.read_text())
    coco = ["--gt", str(gt_path), "--results", str(res_path)]
    return {
        "coco": ["--metric", "coco", *coco],
        "pck": ["--metric", "pck", *coco],
        "crowdpose": ["--metric", "crowdpose", "--gt", f["crowdpose"][0], "--results", f["crowdpose"][1]],
        "aic": ["--metric", "aic", "--gt", f["aic"][0], "--results", f["aic"][1]],
        "pckh": ["--metric", "pckh", "--gt", f["mpii"][0], "--results", f["mpii"][1]],
        "lsp-pck": ["--metric", "lsp-pck", "--gt", f["lsp"][0], "--results", f["lsp"][1]],
        "pdj": ["--metric", "pdj", "--gt", f["lsp"][0], "--results", f["lsp"][1]],
        "pcp": ["--metric", "pcp", "--gt", f["lsp"][0], "--results", f["lsp"][1]],
        "flic-pck": ["--metric", "flic-pck", "--gt", f["flic"][0], "--results", f["flic"][1]],
        "pdj (flic)": ["--metric", "pdj", "--dataset", "flic", "--gt", f["flic"][0], "--results", f["flic"][1]],
    }


# --- timing and report -------------------------------------------------------------------------------


def _headline(values: dict) -> str:
    """A short summary of one metric's JSON output, for the report."""
    table = values.get("table")
    if table is None:
        key = next(iter(values))
        return f"{key} {values[key]:.4f}"
    if "Total" in table:  # pckh: one flat row
        return f"Total {table['Total']:.2f}"
    first = next(iter(table))
    return f"{first}: Mean {table[first]['Mean']:.2f}"


def markdown(r: dict) -> str:
    m = r["machine"]
    rows = "\n".join(
        f"| {name} | {', '.join(f'{x:.2f}' for x in e['wall_s'])} | {e['median_wall_s']:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in e['cpu_s'])} | {e['ratio_to_coco_ap']:.2f} | "
        f"{'**yes**' if e['over_limit'] else 'no'} | {e['headline']} |"
        for name, e in r["entries"].items())
    over = [n for n, e in r["entries"].items() if e["over_limit"]]
    verdict = (f"**Over the {LIMIT:g}x limit: {', '.join(over)}.**" if over
               else f"**No metric is more than {LIMIT:g}x slower than COCO AP** (largest ratio "
                    f"{max(e['ratio_to_coco_ap'] for n, e in r['entries'].items() if n != 'coco' and not n.startswith('pycocotools')):.2f}x; "
                    f"pycocotools is listed for context only).")
    cmds = "\n".join(f"- {n}: `{c}`" for n, c in r["commands"].items())
    return f"""# Every 2D metric, from files to numbers, vs COCO AP

- command: `{r['command']}`
- date (UTC): {m['date']}
- machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}
- load average (1/5/15 min) before: {', '.join(f'{x:.2f}' for x in r['load_before'])}; after: {', '.join(f'{x:.2f}' for x in r['load_after'])} (shared machine; compare within this run only)
- data: {r['data']['images']} synthetic images, {r['data']['annotations']} GT annotations, {r['data']['results']} COCO results (`{r['data']['gt']}`, `{r['data']['res']}`); each metric's native inputs derived from them as the script's docstring describes
- timing: whole processes, wall time, median of {r['runs']} rounds, order rotated each round; reference = `posekit eval --metric coco` (COCO AP) in the same rounds

{verdict}

The values in the last column only show that each run scored something: the predictions for
the non-COCO layouts are COCO-17 results with derived joints (``head_top`` a fixed guess), 45% of
the synthetic people have no labelled COCO joint (their array-metric prediction is an arbitrary
result of the image), and the AIC score divides by max(#GT, #predicted) per image with ~20
predictions per image.

| entry | wall per run (s) | median wall (s) | CPU user+sys per run (s) | ratio to COCO AP | over {LIMIT:g}x | output (last run) |
|---|---|---|---|---|---|---|
{rows}

Commands:
{cmds}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default="/tmp/posekit_bench", help="where data are built once and reused")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pycocotools", action="store_true", help="leave pycocotools out of the rounds")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    gt_path = synth_gt(cache, 5000)
    res_path = make_results(gt_path, gt_path.parent / "results_20.json", 20)
    metric_args = prepare(gt_path, res_path)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "posekit")], check=True,
                   stdout=subprocess.DEVNULL)
    posekit_bin = Path(sys.executable).parent / "posekit"
    base = ([str(posekit_bin)] if posekit_bin.exists() else [sys.executable, "-m", "posekit.cli"]) + ["eval"]
    cmds = {name: base + a + ["--json"] for name, a in metric_args.items()}
    if not args.no_pycocotools:
        cmds["pycocotools (COCO AP)"] = [sys.executable, "-c", PYCOCOTOOLS, str(gt_path), str(res_path)]
    names = list(cmds)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    load_before = os.getloadavg()
    for i in range(args.runs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(timed(cmds[name]))
            print(f"round {i}: {name} {runs[name][-1]['wall_s']:.2f} s", flush=True)
    load_after = os.getloadavg()
    coco_wall = statistics.median(r["wall_s"] for r in runs["coco"])
    entries = {}
    for name in names:
        wall = statistics.median(r["wall_s"] for r in runs[name])
        out = runs[name][-1]["stdout"]
        if name.startswith("pycocotools"):
            headline = f"AP {json.loads(out)[0]:.4f}"
        else:
            headline = _headline(json.loads(out))
        entries[name] = {"wall_s": [round(r["wall_s"], 3) for r in runs[name]],
                         "cpu_s": [round(r["cpu_s"], 3) for r in runs[name]], "median_wall_s": round(wall, 3),
                         "ratio_to_coco_ap": round(wall / coco_wall, 3),
                         "over_limit": name not in ("coco",) and not name.startswith("pycocotools")
                         and wall > LIMIT * coco_wall, "headline": headline,
                         "output": json.loads(out)}
    gt = json.loads(gt_path.read_text())
    report = {
        "command": " ".join([Path(sys.executable).name, "bench/bench_metrics_2d.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(), "load_before": list(load_before), "load_after": list(load_after),
        "runs": args.runs,
        "data": {"gt": str(gt_path), "res": str(res_path), "images": len(gt["images"]),
                 "annotations": len(gt["annotations"]), "results": len(json.loads(res_path.read_text()))},
        "commands": {n: " ".join(c if not n.startswith("pycocotools") else
                                 [Path(sys.executable).name, "-c", "<COCO+loadRes+evaluate+accumulate+summarize>",
                                  str(gt_path), str(res_path)]) for n, c in cmds.items()},
        "limit": LIMIT, "entries": entries,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "metrics_2d.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS_DIR / "metrics_2d.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
