"""Machine description, quietness check and timing helper shared by the benchmarks."""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    import numpy

    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0],
            "numpy": numpy.__version__, "loadavg_1min": os.getloadavg()[0]}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def median_ms(fn, runs: int) -> float:
    """Median wall time of ``runs`` calls of ``fn``, in milliseconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)
