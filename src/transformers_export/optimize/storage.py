"""Initializers read and written one tensor at a time, so that a graph of any size is rewritten in about the memory
of its largest tensor (ONNX Runtime's own quantizers hold the float graph and its quantized copy at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np


class WeightReader:
    """Initializer values as numpy arrays, memory-mapped when they live in an external file, or read from a streamed
    checkpoint for the initializers the graph only declares (`streamed`: name -> a function returning its value)."""

    def __init__(self, folder: Path, graph, streamed: Mapping[str, Callable[[], np.ndarray]] | None = None):
        self.folder = folder
        self.tensors = {tensor.name: tensor for tensor in graph.initializer}
        self.streamed = streamed or {}

    def nbytes(self, name: str) -> int:
        from onnx import helper

        tensor = self.tensors[name]
        return int(np.prod(tensor.dims)) * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize

    def is_float_matrix(self, name: str) -> bool:
        import onnx

        tensor = self.tensors.get(name)
        return tensor is not None and tensor.data_type == onnx.TensorProto.FLOAT and len(tensor.dims) == 2

    def array(self, name: str) -> np.ndarray:
        from onnx import numpy_helper
        from onnx.external_data_helper import uses_external_data

        if name in self.streamed:
            return self.streamed[name]()
        tensor = self.tensors[name]
        if not uses_external_data(tensor):
            return numpy_helper.to_array(tensor)
        entries = {entry.key: entry.value for entry in tensor.external_data}
        dtype = numpy_helper.helper.tensor_dtype_to_np_dtype(tensor.data_type)
        count = int(np.prod(tensor.dims)) if tensor.dims else 1
        offset = int(entries.get("offset", 0))
        return np.memmap(
            self.folder / entries["location"], dtype=dtype, mode="r", offset=offset, shape=(count,)
        ).reshape(tuple(tensor.dims))


class WeightWriter:
    """New initializers, inline for small graphs or appended to one external file."""

    def __init__(self, data_path: Path | None):
        self.data_path = data_path
        self.file = open(data_path, "wb") if data_path else None
        self.initializers = []

    def add(self, name: str, array: np.ndarray) -> str:
        import onnx
        from onnx import numpy_helper
        from onnx.external_data_helper import set_external_data

        # (np.ascontiguousarray would make a scalar 1-D, and a 1-D scale means per-axis to DequantizeLinear)
        array = np.asarray(array) if np.ndim(array) == 0 else np.ascontiguousarray(array)
        if self.file is None or array.nbytes < 1024:
            self.initializers.append(numpy_helper.from_array(array, name))
            return name
        tensor = onnx.TensorProto(
            name=name, data_type=numpy_helper.helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape
        )
        alignment = 4096 if array.nbytes >= 1 << 20 else 64
        self.file.write(b"\0" * (-self.file.tell() % alignment))
        offset = self.file.tell()
        self.file.write(memoryview(array).cast("B"))
        tensor.raw_data = b""
        set_external_data(tensor, location=self.data_path.name, offset=offset, length=array.nbytes)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
        self.initializers.append(tensor)
        return name

    def close(self) -> None:
        if self.file:
            self.file.close()
