"""Throughput of the synthetic benchmark generator (``posekit synth``).

Target: >= 30 images per CPU-second at 256x256 in ``scene`` mode, including JPEG encoding,
RLE, annotation JSON and file writing (the full ``generate`` path, one process). Images per
CPU-second are measured with ``time.process_time`` (the machine is shared, so per-core CPU
time is the honest figure); wall time and the load average are recorded too. The per-process
background bank is built before timing and its one-off cost is reported separately.

    .venv/bin/python bench/bench_synth.py [--num 300] [--threads 1]

Writes bench/results/synth_speed.md and bench/results/synth_speed.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from posekit.data.synth import GENERATOR_VERSION, generate, synthesize
from posekit.data.synth.background import background_bank
from posekit.data.synth.config import resolve_knobs

TARGET = 30.0
RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _measure_writer(mode: str, size: int, num: int, seed: int, workers: int = 1) -> dict:
    t_bank = time.process_time()
    background_bank(seed, size, size, resolve_knobs()["bank_size"])
    bank_cpu = time.process_time() - t_bank
    with tempfile.TemporaryDirectory() as tmp:
        c0, w0 = time.process_time(), time.perf_counter()
        summary = generate(tmp, num, seed=seed, mode=mode, size=size, workers=workers)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        jpeg_kb = sum(p.stat().st_size for p in (Path(tmp) / "images").iterdir()) / num / 1024
    out = {"mode": mode, "size": size, "num": num, "workers": workers, "wall_s": round(wall, 3),
           "img_per_wall_s": round(num / wall, 1), "bank_build_cpu_s": round(bank_cpu, 3),
           "people": summary["annotations"], "labelled": summary["labelled"], "jpeg_kb": round(jpeg_kb, 1)}
    if workers == 1:
        out["cpu_s"] = round(cpu, 3)
        out["img_per_cpu_s"] = round(num / cpu, 1)
    return out


def _measure_render_only(mode: str, size: int, num: int, seed: int) -> dict:
    synthesize(seed, 0, mode, size)
    c0 = time.process_time()
    for i in range(num):
        synthesize(seed, i, mode, size)
    cpu = time.process_time() - c0
    return {"mode": mode, "size": size, "num": num, "img_per_cpu_s": round(num / cpu, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=300, help="images per 256x256 measurement")
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)

    writer = [
        _measure_writer("scene", 256, args.num, args.seed),
        _measure_writer("single", 256, args.num, args.seed),
        _measure_writer("scene", 128, args.num, args.seed),
        _measure_writer("scene", 512, max(20, args.num // 6), args.seed),
        _measure_writer("scene", 256, args.num, args.seed, workers=2),
    ]
    render_only = [_measure_render_only("scene", 256, args.num // 2, args.seed),
                   _measure_render_only("single", 256, args.num // 2, args.seed)]
    load_after = os.getloadavg()
    headline = writer[0]["img_per_cpu_s"]
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": started.isoformat(timespec="seconds"),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "opencv": cv2.__version__, "cv2_threads": args.threads},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "generator_version": GENERATOR_VERSION,
        "target_img_per_cpu_s": TARGET,
        "headline_scene_256_img_per_cpu_s": headline,
        "meets_target": bool(headline >= TARGET),
        "writer": writer,
        "render_only": render_only,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synth_speed.json").write_text(json.dumps(result, indent=2) + "\n")

    lines = [
        "# posekit synth: generator throughput",
        "",
        f"- command: `{result['command']}`",
        f"- date (UTC): {result['date_utc']}",
        f"- machine: {result['machine']['cpu']}, {result['machine']['cores']} cores (shared with other jobs); "
        f"Python {result['machine']['python']}, NumPy {result['machine']['numpy']}, OpenCV {result['machine']['opencv']} "
        f"({args.threads} cv2 thread)",
        f"- load average before / after: {result['load_average_before']} / {result['load_average_after']}",
        f"- generator version {GENERATOR_VERSION}, default knobs (difficulty 0.5)",
        "",
        f"**scene, 256x256, full writer: {headline} images per CPU-second** "
        f"(target >= {TARGET:g}: {'met' if result['meets_target'] else 'NOT met'}).",
        "",
        "Full writer = render + JPEG encode + RLE + annotation JSON + file writes (`generate`, one process",
        "unless stated). Images per CPU-second use `time.process_time`; wall figures depend on the load.",
        "",
        "| mode | size | images | workers | img / CPU-s | img / wall-s | bank build (CPU s, once) | people | labelled | JPEG KB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in writer:
        lines.append(f"| {r['mode']} | {r['size']} | {r['num']} | {r['workers']} | {r.get('img_per_cpu_s', '-')} | "
                     f"{r['img_per_wall_s']} | {r['bank_build_cpu_s']} | {r['people']} | {r['labelled']} | {r['jpeg_kb']} |")
    lines += ["", "Render only (`synthesize`, no JPEG, no files):", "",
              "| mode | size | images | img / CPU-s |", "|---|---|---|---|"]
    for r in render_only:
        lines.append(f"| {r['mode']} | {r['size']} | {r['num']} | {r['img_per_cpu_s']} |")
    lines += ["", "With 2 workers the CPU time is spent in child processes, so only wall time is given;",
              "on this shared 2-core machine it reflects the other jobs' load more than the generator.", ""]
    (RESULTS / "synth_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
