"""Timing and memory: interleaved runs after warm-up, so that every contender sees the same machine state."""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# Idle time before each timed run. ONNX Runtime's and OpenMP's worker threads spin for a while after a run; without
# a pause, the next contender shares the cores with them (measured on MiniLM, 2 cores: PyTorch eager took 2.0x as
# long right after an ONNX Runtime run, and 1.0x after a 50 ms pause).
SETTLE_SECONDS = 0.05


def interleaved(
    runners: dict[str, Callable[[], object]], runs: int, warmup: int, tick: Callable[[], None]
) -> dict[str, list[float]]:
    """Seconds per run of each runner: `warmup` untimed rounds, then `runs` rounds, each round running every runner
    once in turn (a slow phase of the machine then slows all of them, not one)."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for round_ in range(warmup + runs):
        for name, run in runners.items():
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
            tick()
    return times


def summary(seconds: list[float], items: int) -> dict:
    """p50 / p90 latency (ms) and throughput (items per second at the median)."""
    median = statistics.median(seconds)
    return {"p50_ms": median * 1e3, "p90_ms": percentile(seconds, 0.9) * 1e3, "throughput": items / median}
