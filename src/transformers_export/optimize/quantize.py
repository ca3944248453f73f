"""Quantize the validated graphs of an export in place, one graph and one weight at a time (see `rewrite.py`);
graphs that shared one weights file share the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import MissingDependencyError, TraceError
from .presets import PRESETS
from .rewrite import quantize_graph


def quantize_graphs(
    paths: list[Path],
    shared_weights: str | None,
    preset: str,
    calibration: Sequence[Sequence[Mapping[str, np.ndarray]]] = (),
) -> None:
    """`calibration[i]`: input feeds of graph `i`, for presets that calibrate (the validation never sees them)."""
    try:
        import onnx  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError("quantization needs onnx: pip install onnx") from error
    from ..formats.onnx.convert import store_shared_weights

    folder = paths[0].parent
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        for index, path in enumerate(paths):
            quantized = Path(scratch) / path.name
            try:
                quantize_graph(path, quantized, PRESETS[preset], calibration[index] if index < len(calibration) else ())
            except (OSError, KeyboardInterrupt):
                raise
            except Exception as error:  # a graph whose shapes or types this rewrite does not cover
                first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise TraceError(f"could not quantize {path.name}: {first_line}; export without --quantize") from error
        for path in paths:
            (folder / f"{path.name}.data").unlink(missing_ok=True)
            for produced in Path(scratch).glob(f"{path.name}*"):
                os.replace(produced, folder / produced.name)
        if shared_weights:
            os.unlink(folder / shared_weights)
            store_shared_weights(paths, shared_weights)
            for path in paths:
                (folder / f"{path.name}.data").unlink(missing_ok=True)
