"""Benchmark: ``posekit eval`` against pycocotools, exactness and speed, as whole processes.

    python bench/bench_coco_eval.py [--cache /tmp/posekit_bench] [--runs 3] [--generator synth|json]

Data (built once, cached under ``--cache``):

- ground truth: ``posekit synth --mode scene --num 5000 --seed 0 --size 256`` (the built-in
  synthetic benchmark), or with ``--generator json`` a JSON-only set of plausible upright people
  (5,000 images of 640x480, 1-8 people each);
- results: for every labelled person one detection (GT keypoints + Gaussian noise of 1-4 px,
  unlabelled joints placed near the person) and sometimes a worse duplicate, then false
  positives (other people's poses moved and rescaled) up to 17-23 results per image (some images
  exceed the 20 kept per image); float32 values written with ``json.dump`` as tools such as
  MMPose do (long decimal expansions, a few in exponent notation); scores spread over [0, 1];
  30% of the records carry a ``bbox`` -- never the first one, because pycocotools' ``loadRes``
  decides from the first record and would then fail on the records without one.

Timing: each round runs ``posekit eval --json`` and a ``python -c`` script doing pycocotools'
``COCO`` + ``loadRes`` + ``evaluate`` + ``accumulate`` + ``summarize`` on the same two files,
alternating which goes first; the median wall time of ``--runs`` rounds is reported, with the
CPU time (user + sys) of each. posekit's modules are byte-compiled
first, as a pip install does (this environment sets PYTHONDONTWRITEBYTECODE). The ten stats must
agree to 1e-9. Output: ``bench/results/coco_eval.md`` and ``.json`` (``coco_eval_jsongen.*`` with
``--generator json``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")

PYCOCOTOOLS = """
import contextlib, io, json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    dt = gt.loadRes(sys.argv[2])
    ev = COCOeval(gt, dt, "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
print(json.dumps([float(v) for v in ev.stats]))
"""

# Upright standing pose, COCO-17 order, in units of body height from the feet centre (y down).
_TEMPLATE = np.array([[0, -0.93], [0.03, -0.95], [-0.03, -0.95], [0.06, -0.93], [-0.06, -0.93],
                      [0.12, -0.80], [-0.12, -0.80], [0.17, -0.62], [-0.17, -0.62], [0.19, -0.45],
                      [-0.19, -0.45], [0.08, -0.48], [-0.08, -0.48], [0.09, -0.25], [-0.09, -0.25],
                      [0.09, -0.02], [-0.09, -0.02]])


def synth_gt(cache: Path, images: int) -> Path:
    out = cache / f"synth_scene_n{images}_s0_256"
    path = out / "annotations.json"
    if not path.exists():
        cmd = [sys.executable, "-m", "posekit.cli", "synth", "--mode", "scene", "--num", str(images), "--seed", "0",
               "--size", "256", "--out", str(out), "--quiet", "--workers", "2"]
        print("generating:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return path


def json_only_gt(cache: Path, images: int) -> Path:
    path = cache / f"jsongen_n{images}_s0" / "annotations.json"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    imgs, anns = [], []
    for i in range(1, images + 1):
        imgs.append({"id": i, "file_name": f"{i:06d}.jpg", "width": 640, "height": 480})
        for _ in range(int(rng.integers(1, 9))):
            h = float(np.exp(rng.uniform(np.log(40), np.log(400))))
            noise = rng.normal(0, 0.03 * h, (17, 2))
            xy = _TEMPLATE * h + noise + [rng.uniform(0, 640), rng.uniform(0.8 * h, 480 + 0.2 * h)]
            v = rng.choice([0, 1, 2], 17, p=[0.1, 0.2, 0.7])
            if rng.random() < 0.03:
                v[:] = 0
            lo, hi = xy.min(0), xy.max(0)
            box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
            kps = np.concatenate([np.where(v[:, None] > 0, np.round(xy, 2), 0), v[:, None]], axis=1)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "iscrowd": int(rng.random() < 0.01),
                         "area": box[2] * box[3] * float(rng.uniform(0.45, 0.65)), "bbox": box,
                         "num_keypoints": int((v > 0).sum()),
                         "keypoints": [float(x) if j % 3 < 2 else int(x) for j, x in enumerate(kps.ravel())]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return path


def make_results(gt_path: Path, out: Path, per_image: int, seed: int = 1) -> Path:
    """Results for ``gt_path`` as described in the module docstring (cached)."""
    if out.exists():
        return out
    gt = json.loads(gt_path.read_text())
    rng = np.random.default_rng(seed)
    by_image: dict = {img["id"]: [] for img in gt["images"]}
    poses = []
    for ann in gt["annotations"]:
        kps = np.array(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        if ann.get("iscrowd") or ann["num_keypoints"] == 0 or not (kps[:, 2] > 0).any():
            continue
        size = max(ann["bbox"][2], ann["bbox"][3], 4.0)
        xy = kps[:, :2].copy()
        labelled = kps[:, 2] > 0
        centre = xy[labelled].mean(axis=0)
        xy[~labelled] = centre + rng.normal(0, 0.15 * size, (int((~labelled).sum()), 2))
        by_image[ann["image_id"]].append(xy)
        poses.append((xy - centre, size))
    sizes = {img["id"]: (img.get("width", 640), img.get("height", 480)) for img in gt["images"]}
    records = []
    for image_id, people in by_image.items():
        dets = []
        for xy in people:
            dets.append((xy + rng.normal(0, rng.uniform(1, 4), xy.shape), rng.uniform(0.5, 1.0)))
            if rng.random() < 0.3:
                dets.append((xy + rng.normal(0, rng.uniform(3, 12), xy.shape), rng.uniform(0.1, 0.6)))
        target = int(rng.integers(per_image - 3, per_image + 4))
        width, height = sizes[image_id]
        while len(dets) < target and poses:
            shape, _ = poses[int(rng.integers(len(poses)))]
            where = np.array([rng.uniform(0, width), rng.uniform(0, height)])
            dets.append((shape * rng.uniform(0.5, 1.5) + where, rng.uniform(0.0, 0.7)))
        for xy, score in dets:
            kps = np.concatenate([xy, rng.random((17, 1))], axis=1).astype(np.float32)
            rec = {"image_id": image_id, "category_id": 1, "keypoints": kps.ravel().tolist(),
                   "score": float(np.float32(score))}
            if records and rng.random() < 0.3:
                lo, hi = kps[:, :2].min(0), kps[:, :2].max(0)
                rec["bbox"] = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
            records.append(rec)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records))
    return out


def timed(cmd: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "stdout": proc.stdout}


def in_process_parse_times(gt_path: Path, res_path: Path) -> dict:
    from posekit.metrics.coco_eval import load_coco_gt
    from posekit.metrics.json_io import read_coco_results

    clock = time.process_time
    t0 = clock()
    json.loads(res_path.read_bytes())
    t1 = clock()
    read_coco_results(res_path)
    t2 = clock()
    json.loads(gt_path.read_bytes())
    t3 = clock()
    load_coco_gt(gt_path)
    t4 = clock()
    return {"results_json_load_cpu_s": t1 - t0, "results_posekit_reader_cpu_s": t2 - t1,
            "gt_json_load_cpu_s": t3 - t2, "gt_posekit_loader_cpu_s": t4 - t3}


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return {"cpu": model, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "pycocotools": version("pycocotools")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default="/tmp/posekit_bench", help="where data are built once and reused")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--generator", choices=("synth", "json"), default="synth")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--per-image", type=int, default=20)
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    gt_path = synth_gt(cache, args.images) if args.generator == "synth" else json_only_gt(cache, args.images)
    res_path = make_results(gt_path, gt_path.parent / f"results_{args.per_image}.json", args.per_image)
    gt = json.loads(gt_path.read_text())
    n_results = len(json.loads(res_path.read_text()))

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "posekit")], check=True,
                   stdout=subprocess.DEVNULL)
    posekit_bin = Path(sys.executable).parent / "posekit"
    ours_cmd = ([str(posekit_bin)] if posekit_bin.exists() else [sys.executable, "-m", "posekit.cli"]) + \
        ["eval", "--gt", str(gt_path), "--results", str(res_path), "--json"]
    ref_cmd = [sys.executable, "-c", PYCOCOTOOLS, str(gt_path), str(res_path)]
    load_before = os.getloadavg()
    ours, ref = [], []
    entries = [("posekit", ours, ours_cmd), ("pycocotools", ref, ref_cmd)]
    for i in range(args.runs):
        for label, bucket, cmd in (entries if i % 2 == 0 else entries[::-1]):
            bucket.append(timed(cmd))
            print(f"round {i}: {label} {bucket[-1]['wall_s']:.2f} s", flush=True)
    load_after = os.getloadavg()
    ours_stats = json.loads(ours[-1]["stdout"])
    ref_stats = dict(zip(STAT_NAMES, json.loads(ref[-1]["stdout"])))
    max_diff = max(abs(ours_stats[k] - ref_stats[k]) for k in STAT_NAMES)
    ours_wall = statistics.median(r["wall_s"] for r in ours)
    ref_wall = statistics.median(r["wall_s"] for r in ref)
    report = {
        "command": " ".join([Path(sys.executable).name, "bench/bench_coco_eval.py", *(argv or sys.argv[1:])]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before_after": [list(load_before), list(load_after)],
        "data": {"generator": args.generator, "gt": str(gt_path), "results": str(res_path),
                 "images": len(gt["images"]), "annotations": len(gt["annotations"]), "results_count": n_results,
                 "gt_mb": round(gt_path.stat().st_size / 2**20, 1),
                 "results_mb": round(res_path.stat().st_size / 2**20, 1)},
        "posekit_cmd": " ".join(ours_cmd),
        "pycocotools_cmd": f"{Path(sys.executable).name} -c <COCO+loadRes+evaluate+accumulate+summarize> GT RESULTS",
        "posekit_wall_s": [round(r["wall_s"], 3) for r in ours],
        "posekit_cpu_s": [round(r["cpu_s"], 3) for r in ours],
        "pycocotools_wall_s": [round(r["wall_s"], 3) for r in ref],
        "pycocotools_cpu_s": [round(r["cpu_s"], 3) for r in ref],
        "median_wall_s": {"posekit": round(ours_wall, 3), "pycocotools": round(ref_wall, 3)},
        "speedup_median_wall": round(ref_wall / ours_wall, 2),
        "speedup_median_cpu": round(statistics.median(r["cpu_s"] for r in ref)
                                    / statistics.median(r["cpu_s"] for r in ours), 2),
        "in_process_cpu_s": {k: round(v, 3) for k, v in in_process_parse_times(gt_path, res_path).items()},
        "stats_posekit": ours_stats,
        "stats_pycocotools": ref_stats,
        "max_abs_diff": max_diff,
        "agree_1e-9": max_diff <= 1e-9,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = "coco_eval" if args.generator == "synth" else "coco_eval_jsongen"
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS_DIR / f"{name}.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if report["agree_1e-9"] else 1


def markdown(r: dict) -> str:
    d, m = r["data"], r["machine"]
    rows = "\n".join(f"| {k} | {r['stats_posekit'][k]:.12f} | {r['stats_pycocotools'][k]:.12f} |" for k in STAT_NAMES)
    ip = r["in_process_cpu_s"]
    return f"""# COCO keypoint evaluation: posekit vs pycocotools

- command: `{r['command']}`
- date (UTC): {r['date_utc']}
- machine: {m['cpu']}, {m['cpu_count']} cores, {m['platform']}; Python {m['python']}, numpy {m['numpy']}, pycocotools {m['pycocotools']}
- load average (1/5/15 min) before: {', '.join(f'{x:.2f}' for x in r['load_average_before_after'][0])}; after: {', '.join(f'{x:.2f}' for x in r['load_average_before_after'][1])} (the machine is shared; compare the two tools within this run only)
- data ({d['generator']} generator): {d['images']} images, {d['annotations']} GT annotations ({d['gt_mb']} MiB), {d['results_count']} results ({d['results_mb']} MiB)
- posekit: `{r['posekit_cmd']}`
- pycocotools: `{r['pycocotools_cmd']}`

## Speed (whole processes, {len(r['posekit_wall_s'])} interleaved rounds)

| | wall per run (s) | median wall (s) | CPU user+sys per run (s) |
|---|---|---|---|
| posekit eval | {', '.join(f'{x:.2f}' for x in r['posekit_wall_s'])} | {r['median_wall_s']['posekit']:.2f} | {', '.join(f'{x:.2f}' for x in r['posekit_cpu_s'])} |
| pycocotools | {', '.join(f'{x:.2f}' for x in r['pycocotools_wall_s'])} | {r['median_wall_s']['pycocotools']:.2f} | {', '.join(f'{x:.2f}' for x in r['pycocotools_cpu_s'])} |

**Speed-up: {r['speedup_median_wall']:.1f}x (median wall time), {r['speedup_median_cpu']:.1f}x (median CPU time).**

Parsing, in-process CPU time: `json.loads` of the results {ip['results_json_load_cpu_s']:.2f} s, posekit's reader (same values, bit for bit) {ip['results_posekit_reader_cpu_s']:.2f} s; `json.loads` of the ground truth {ip['gt_json_load_cpu_s']:.2f} s, posekit's ground-truth loader {ip['gt_posekit_loader_cpu_s']:.2f} s.

## Exactness

Largest difference over the ten stats: {r['max_abs_diff']:.3g} (agree to 1e-9: {r['agree_1e-9']}).

| stat | posekit | pycocotools |
|---|---|---|
{rows}
"""


if __name__ == "__main__":
    sys.exit(main())
