"""Calibration: the largest magnitude each channel of chosen activations reaches when the float graph runs on
calibration inputs (SmoothQuant's statistics)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np


def channel_absmax(
    path: Path, activations: Iterable[str], feeds: Iterable[Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Per last-axis channel, max |value| of each named tensor of the graph at `path`, over all `feeds`."""
    import onnx
    import onnxruntime

    activations = list(dict.fromkeys(activations))
    proto = onnx.load(str(path), load_external_data=False)
    declared = {output.name for output in proto.graph.output}
    for name in activations:
        if name not in declared:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    # Beside the graph, so that its external data resolves; removed as soon as the session has it.
    handle, probe = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(handle)
    try:
        onnx.save(proto, probe)
        session = onnxruntime.InferenceSession(probe, providers=["CPUExecutionProvider"])
    finally:
        os.unlink(probe)
    inputs = {node.name for node in session.get_inputs()}
    ranges: dict[str, np.ndarray] = {}
    for feed in feeds:
        values = session.run(activations, {name: value for name, value in feed.items() if name in inputs})
        for name, value in zip(activations, values):
            largest = (
                np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
                if value.size
                else np.zeros(value.shape[-1], np.float32)
            )
            ranges[name] = np.maximum(ranges[name], largest) if name in ranges else largest
    return ranges
