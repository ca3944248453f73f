"""Quantize the validated graphs of an export in place, one graph and one weight at a time (see `rewrite.py`);
graphs that shared one weights file share the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import MissingDependencyError, TraceError
from .presets import PRESETS
from .rewrite import quantize_graph


def quantize_graphs(
    paths: list[Path],
    shared_weights: str | None,
    preset: str,
    calibration: Sequence[Sequence[Mapping[str, np.ndarray]]] = (),
    streamed: Sequence[Mapping[str, Callable[[], np.ndarray]] | None] = (),
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """`calibration[i]`: input feeds of graph `i`, for presets that calibrate (the validation never sees them).
    `streamed[i]`: values of the weights graph `i` declares without data (a streamed checkpoint).
    `progress(bytes_done, bytes_total)`: float weight bytes quantized or copied, over all graphs."""
    try:
        import onnx  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError("quantization needs onnx: pip install onnx") from error
    from ..formats.onnx.weights import store_shared_weights

    folder = paths[0].parent
    counter = _Counter(paths, streamed, progress)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        for index, path in enumerate(paths):
            quantized = Path(scratch) / path.name
            try:
                quantize_graph(
                    path,
                    quantized,
                    PRESETS[preset],
                    calibration[index] if index < len(calibration) else (),
                    streamed=streamed[index] if index < len(streamed) else None,
                    progress=counter.add if progress else None,
                )
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


class _Counter:
    """Bytes done out of the float bytes of every graph's initializers (read from the graphs, not their weights)."""

    def __init__(self, paths: list[Path], streamed, progress):
        self.done, self.total, self.progress = 0, 0, progress
        if progress is None:
            return
        import onnx

        from .storage import WeightReader

        for index, path in enumerate(paths):
            graph = onnx.load(str(path), load_external_data=False).graph
            reader = WeightReader(path.parent, graph, streamed[index] if index < len(streamed) else None)
            self.total += sum(reader.nbytes(tensor.name) for tensor in graph.initializer)

    def add(self, nbytes: int) -> None:
        self.done = min(self.done + nbytes, self.total)
        self.progress(self.done, self.total)
