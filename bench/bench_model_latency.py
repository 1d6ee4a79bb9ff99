"""CPU latency of candidate top-down models (SimpleBaseline / HRNet variants).

Target: <= 15 ms per person crop at batch 1 with 2 torch threads, eager, torch.inference_mode.
For every candidate: parameters, MACs (posekit.models.flops.count_macs), median wall time at
batch 1 (contiguous and channels-last), and per-crop time at batch 16. The machine is shared, so
candidates are measured interleaved in several rounds; each figure is the median over rounds of
the per-round medians, and the load average is recorded before and after.

    .venv/bin/python bench/bench_model_latency.py [--rounds 3] [--runs 15] [--threads 2]

Writes bench/results/model_latency.md and bench/results/model_latency.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from posekit.models.flops import count_macs, count_params
from posekit.models.zoo import build_model

# (label, zoo name, overrides, (height, width)). SimpleBaseline needs H and W divisible by 32
# (its C5 map is upsampled by a fixed factor), so its intermediate size is 160x128, not 192x144.
R18_128 = {"deconv_channels": (128, 128, 128)}
R18_S8 = {"deconv_channels": (256, 256)}
# HRNet-W18-Small-V2 depths (HRNet-Image-Classification cls_hrnet_w18_small_v2: stage 1 two
# Bottlenecks of 64 planes; 1/3/2 modules in stages 2-4; 2 blocks per branch)
HR_W18_SMALL_V2 = {"width": 18, "stage1_planes": 64, "stage1_blocks": 2, "stage_modules": (1, 3, 2), "stage_blocks": (2, 2, 2)}
HR_W16_SMALL_V2 = {**HR_W18_SMALL_V2, "width": 16}
CANDIDATES: list[tuple[str, str, dict, tuple[int, int]]] = [
    ("simplebaseline_r18 256x192", "simplebaseline_r18", {}, (256, 192)),
    ("simplebaseline_r18 160x128", "simplebaseline_r18", {}, (160, 128)),
    ("simplebaseline_r18 128x96", "simplebaseline_r18", {}, (128, 96)),
    ("simplebaseline_r18 deconv128 256x192", "simplebaseline_r18", R18_128, (256, 192)),
    ("simplebaseline_r18 deconv128 160x128", "simplebaseline_r18", R18_128, (160, 128)),
    ("simplebaseline_r18 deconv128 128x96", "simplebaseline_r18", R18_128, (128, 96)),
    ("simplebaseline_r18 2deconv (stride 8) 128x96", "simplebaseline_r18", R18_S8, (128, 96)),
    ("simplebaseline_r18 2deconv (stride 8) 256x192", "simplebaseline_r18", R18_S8, (256, 192)),
    ("simplebaseline_r34 deconv128 128x96", "simplebaseline_r34", R18_128, (128, 96)),
    ("simplebaseline_r50 128x96", "simplebaseline_r50", {}, (128, 96)),
    ("hrnet_w16_small 128x96", "hrnet_w16_small", {}, (128, 96)),
    ("hrnet_w16_small 192x144", "hrnet_w16_small", {}, (192, 144)),
    ("hrnet_w16_small 256x192", "hrnet_w16_small", {}, (256, 192)),
    ("hrnet w18-small-v2 depths 128x96", "hrnet_w32", HR_W18_SMALL_V2, (128, 96)),
    ("hrnet w18-small-v2 depths 192x144", "hrnet_w32", HR_W18_SMALL_V2, (192, 144)),
    ("hrnet w16 small-v2 depths 192x144", "hrnet_w32", HR_W16_SMALL_V2, (192, 144)),
    ("hrnet w16 small-v2 depths 256x192", "hrnet_w32", HR_W16_SMALL_V2, (256, 192)),
    ("hrnet_w32 128x96", "hrnet_w32", {}, (128, 96)),
    ("hrnet_w32 256x192", "hrnet_w32", {}, (256, 192)),
]
TARGET_MS = 15.0


def _median_ms(model: torch.nn.Module, x: torch.Tensor, runs: int) -> tuple[float, float]:
    """Median wall and process-CPU milliseconds of ``runs`` forwards (after 3 warm-up calls)."""
    for _ in range(3):
        model(x)
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        model(x)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15, help="timed batch-1 forwards per candidate per round")
    parser.add_argument("--batch-runs", type=int, default=2, help="timed batch-16 forwards per candidate per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "model_latency")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    models = []
    for label, name, overrides, size in CANDIDATES:
        m = build_model(name, **overrides).eval()
        with torch.inference_mode():
            heatmap = tuple(m(torch.zeros(1, 3, *size)).shape[-2:])
        models.append((label, m, size, count_params(m), count_macs(m, size), m.stride, heatmap))
    samples: dict[str, dict[str, list[float]]] = {label: {} for label, *_ in models}
    with torch.inference_mode():
        for r in range(args.rounds):
            for label, m, (h, w), *_ in models:
                s = samples[label]
                x1 = torch.randn(1, 3, h, w)
                wall, cpu = _median_ms(m, x1, args.runs)
                s.setdefault("b1_ms", []).append(wall)
                s.setdefault("b1_cpu_ms", []).append(cpu)
                m_cl = m.to(memory_format=torch.channels_last)
                wall_cl, _ = _median_ms(m_cl, x1.contiguous(memory_format=torch.channels_last), args.runs)
                s.setdefault("b1_channels_last_ms", []).append(wall_cl)
                m.to(memory_format=torch.contiguous_format)
                x16 = torch.randn(16, 3, h, w)
                wall16, _ = _median_ms(m, x16, args.batch_runs)
                s.setdefault("b16_ms_per_crop", []).append(wall16 / 16)
            print(f"round {r + 1}/{args.rounds} done, load {os.getloadavg()}", file=sys.stderr)
    load_after = os.getloadavg()

    rows = []
    for label, _, (h, w), params, macs, stride, heatmap in models:
        med = {k: statistics.median(v) for k, v in samples[label].items()}
        best_b1 = min(med["b1_ms"], med["b1_channels_last_ms"])
        rows.append({
            "candidate": label, "input": f"{h}x{w}", "heatmap": f"{heatmap[0]}x{heatmap[1]}",
            "heatmap_is_input_over_stride": heatmap == (h // stride, w // stride) and h % stride == w % stride == 0,
            "params_M": round(params / 1e6, 3), "GMACs": round(macs / 1e9, 3),
            **{k: round(v, 2) for k, v in med.items()},
            "rounds": {k: [round(x, 2) for x in v] for k, v in samples[label].items()},
            "meets_target": best_b1 <= TARGET_MS,
        })
    info = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": started.isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": args.threads,
        "python": platform.python_version(),
        "loadavg_before": [round(v, 2) for v in load_before], "loadavg_after": [round(v, 2) for v in load_after],
        "rounds": args.rounds, "runs_b1": args.runs, "runs_b16": args.batch_runs, "target_ms_b1": TARGET_MS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"info": info, "rows": rows}, indent=1) + "\n")
    lines = [
        "# Model latency on CPU (eager, torch.inference_mode)", "",
        *(f"- {k}: {v}" for k, v in info.items()), "",
        "Figures: median over rounds of per-round medians. b1 = one crop per call (wall ms); "
        "b1 CPU = process CPU ms per call (sums both threads); b16 = wall ms per crop at batch 16. "
        f"'<= {TARGET_MS:g}' uses the better of contiguous / channels-last b1.", "",
        "| candidate | input | heatmap | params (M) | GMACs | b1 ms | b1 channels-last ms | b1 CPU ms | b16 ms/crop | <= 15 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['candidate']} | {r['input']} | {r['heatmap']} | {r['params_M']:.2f} | {r['GMACs']:.3f} | "
            f"{r['b1_ms']:.1f} | {r['b1_channels_last_ms']:.1f} | {r['b1_cpu_ms']:.1f} | {r['b16_ms_per_crop']:.1f} | "
            f"{'yes' if r['meets_target'] else 'no'} |"
        )
    meeting = sorted((r for r in rows if r["meets_target"]), key=lambda r: -r["GMACs"])
    lines += ["", f"Meeting the {TARGET_MS:g} ms batch-1 target, most compute first: "
              + "; ".join(f"{r['candidate']} ({r['GMACs']:.2f} GMACs, heatmap {r['heatmap']})" for r in meeting)]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
