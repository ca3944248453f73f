"""Shared by the benchmarks: run one export command in a child process and measure it (wall seconds and the child's
own peak RSS); export a preset once into a folder that later runs reuse."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of `command`; exits with its stderr if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def export_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "transformers_export", *arguments]


def export_once(source, folder: Path, preset: str, **options) -> Path:
    """`source` exported into `folder` as "fp32" or quantized with `preset` (kept whatever its cosine, so that every
    preset is measured), unless `folder` already holds an export."""
    from transformers_export import export_model

    if not (folder / "export.json").is_file():
        quantized = {} if preset == "fp32" else {"quantize": preset, "min_cosine": 0.0}
        export_model(str(source), folder, **options, **quantized)
    return folder
