"""Benchmark posekit.codecs.heatmap.HeatmapCodec: decode time per mode on a 256 x 17 x 64 x 48
batch (the size of one COCO validation batch at 256x192) and round-trip error per
encode/decode combination.

Usage: ``.venv/bin/python bench/bench_codecs.py [--repeats 20] [--out bench/results/codecs.md]``.
Single-threaded (numpy BLAS and torch limited to 1 thread) so the figures are per core.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from posekit.codecs.heatmap import DECODE_MODES, HeatmapCodec  # noqa: E402

INPUT_SIZE = (192, 256)
HEATMAP_SIZE = (48, 64)
BATCH, JOINTS = 256, 17


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and median CPU (process) time in milliseconds over ``repeats`` calls."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return 1e3 * float(np.median(wall)), 1e3 * float(np.median(cpu))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "codecs.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 1, size=(BATCH, JOINTS, 2)) * (np.array(INPUT_SIZE) - 1)
    visibility = np.full((BATCH, JOINTS), 2)

    timing_rows = []
    for unbiased in (False, True):
        codec = HeatmapCodec(input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE, sigma=2.0, unbiased=unbiased)
        heatmaps, _ = codec.encode(keypoints, visibility)
        wall, cpu = _timed(lambda: codec.encode(keypoints, visibility), args.repeats)
        timing_rows.append(("UDP" if unbiased else "MSRA", "encode", wall, cpu))
        for mode in DECODE_MODES:
            codec.decode_mode = mode
            wall, cpu = _timed(lambda: codec.decode(heatmaps), args.repeats)
            timing_rows.append(("UDP" if unbiased else "MSRA", f"decode {mode}", wall, cpu))
        if unbiased:
            tensor = torch.from_numpy(heatmaps)
            wall, cpu = _timed(lambda: codec.decode(tensor), args.repeats)
            timing_rows.append(("UDP", "decode dark (torch CPU tensor input)", wall, cpu))

    error_rows = []
    for unbiased in (False, True):
        for mode in DECODE_MODES:
            codec = HeatmapCodec(input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE, sigma=2.0,
                                 unbiased=unbiased, decode_mode=mode)
            decoded, _ = codec.decode(codec.encode(keypoints, visibility)[0])
            err = np.abs(decoded.astype(np.float64) - keypoints)  # per axis, input pixels
            dist = np.linalg.norm(decoded - keypoints, axis=-1)
            error_rows.append(("UDP" if unbiased else "MSRA", mode, float(dist.mean()), float(err.max())))

    command = "OMP_NUM_THREADS=1 " + " ".join([Path(sys.executable).name, *sys.argv])
    lines = [
        "# Heatmap codec benchmark",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs (shared with other jobs), Python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__}; 1 thread",
        f"- batch: {BATCH} x {JOINTS} heatmaps of {HEATMAP_SIZE[1]} x {HEATMAP_SIZE[0]} (h x w), "
        f"input {INPUT_SIZE[1]} x {INPUT_SIZE[0]}, sigma 2, keypoints uniform in the crop (seed 0)",
        f"- times: median of {args.repeats} runs after one warm-up; CPU = process time",
        "",
        "## Time per batch",
        "",
        "| target | operation | wall ms | CPU ms |",
        "|---|---|---:|---:|",
        *[f"| {t} | {op} | {w:.2f} | {c:.2f} |" for t, op, w, c in timing_rows],
        "",
        "## Round-trip error `decode(encode(x))` (input pixels)",
        "",
        "| target | decode | mean Euclidean error | max per-axis error |",
        "|---|---|---:|---:|",
        *[f"| {t} | {mode} | {mean:.4f} | {mx:.4f} |" for t, mode, mean, mx in error_rows],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({
        "command": command,
        "timing_ms": [dict(target=t, operation=op, wall=w, cpu=c) for t, op, w, c in timing_rows],
        "round_trip_px": [dict(target=t, decode=m, mean=mean, max_axis=mx) for t, m, mean, mx in error_rows],
    }, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
