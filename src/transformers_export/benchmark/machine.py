"""The CPU a benchmark ran on: model name and the instruction-set flags that decide which kernels run."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

# flags that change which kernels PyTorch and ONNX Runtime pick
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def _cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.exists() else ""


def cpu_flags() -> list[str]:
    match = re.search(r"^flags\s*:\s*(.*)$", _cpuinfo(), re.M)
    flags = set(match.group(1).split()) if match else set()
    return [flag for flag in KERNEL_FLAGS if flag in flags]


def cpu_name() -> str:
    match = re.search(r"^model name\s*:\s*(.*)$", _cpuinfo(), re.M)
    return match.group(1).strip() if match else platform.processor() or platform.machine()


def has_native_bf16() -> bool:
    """bf16 arithmetic in hardware (AVX-512 BF16 or AMX); without it PyTorch emulates bf16 and is much slower."""
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))


def machine() -> dict:
    return {"cpu": cpu_name(), "flags": cpu_flags(), "cores": os.cpu_count(), "native_bf16": has_native_bf16()}
