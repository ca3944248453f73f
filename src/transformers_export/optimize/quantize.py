"""Dynamic int8 quantization of exported graphs, one weight at a time.

The scheme is ONNX Runtime's dynamic quantization (its `quantize_dynamic` with per-channel int8 weights), written
here as a stream so that a graph of any size is quantized in about the memory of its largest tensor; ONNX Runtime's
own quantizer holds the whole float graph and its quantized copy at once (3.4x the weights of a 0.5B decoder).

- `MatMul(x, W)` with a float weight `W (K, N)`: `W` becomes int8 with one symmetric scale per output column
  (`max |W[:, n]| / 127`); `x` is quantized on the fly (`DynamicQuantizeLinear`, uint8), then
  `MatMulInteger -> Cast -> Mul(x_scale * W_scale)`. No calibration data is needed. Per-channel scales matter: with one
  scale per tensor, the sentence embeddings of all-MiniLM-L6-v2 drift to cosine 0.96 of the float model's.
- `Gather(E, ids)` of a float embedding table: `E` becomes uint8 with one asymmetric scale, and the gathered rows are
  dequantized (`DequantizeLinear`).
- Everything else (convolutions, the attention's own matmuls, norms) stays float.

Values move by design, so the graphs are validated again by cosine similarity to PyTorch instead of a tolerance.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, TraceError

QUANTIZATIONS = ("int8",)
# Lowest accepted cosine similarity between a quantized graph's outputs and PyTorch's, per example of each output.
MIN_COSINE = 0.95


def quantize_graphs(paths: list[Path], shared_weights: str | None) -> None:
    """Quantize each graph in place; graphs that shared one weights file (`shared_weights`) share the new one."""
    try:
        import onnx  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError("quantization needs onnx: pip install onnx") from error
    from ..onnx.convert import store_shared_weights

    folder = paths[0].parent
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        for path in paths:
            quantized = Path(scratch) / path.name
            try:
                quantize_graph(path, quantized)
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


class _Weights:
    """Initializer values as numpy arrays, read one at a time (memory-mapped when they are in an external file)."""

    def __init__(self, folder: Path, graph):
        self.folder = folder
        self.tensors = {tensor.name: tensor for tensor in graph.initializer}

    def float_matrix(self, name: str, ndim: int) -> bool:
        import onnx

        tensor = self.tensors.get(name)
        return tensor is not None and tensor.data_type == onnx.TensorProto.FLOAT and len(tensor.dims) == ndim

    def array(self, name: str) -> np.ndarray:
        from onnx import numpy_helper
        from onnx.external_data_helper import uses_external_data

        tensor = self.tensors[name]
        if not uses_external_data(tensor):
            return numpy_helper.to_array(tensor)
        entries = {entry.key: entry.value for entry in tensor.external_data}
        dtype = numpy_helper.helper.tensor_dtype_to_np_dtype(tensor.data_type)
        count = int(np.prod(tensor.dims)) if tensor.dims else 1
        offset = int(entries.get("offset", 0))
        return np.memmap(self.folder / entries["location"], dtype=dtype, mode="r", offset=offset, shape=(count,)).reshape(tuple(tensor.dims))


class _Writer:
    """New initializers, inline for small graphs or appended to one external file."""

    def __init__(self, data_path: Path | None):
        self.data_path = data_path
        self.file = open(data_path, "wb") if data_path else None
        self.initializers = []

    def add(self, name: str, array: np.ndarray) -> None:
        import onnx
        from onnx import numpy_helper
        from onnx.external_data_helper import set_external_data

        # (np.ascontiguousarray would make a scalar 1-D, and a 1-D scale means per-axis to DequantizeLinear)
        array = np.asarray(array) if np.ndim(array) == 0 else np.ascontiguousarray(array)
        if self.file is None or array.nbytes < 1024:
            self.initializers.append(numpy_helper.from_array(array, name))
            return
        tensor = onnx.TensorProto(name=name, data_type=numpy_helper.helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape)
        alignment = 4096 if array.nbytes >= 1 << 20 else 64
        self.file.write(b"\0" * (-self.file.tell() % alignment))
        offset = self.file.tell()
        self.file.write(memoryview(array).cast("B"))
        tensor.raw_data = b""
        set_external_data(tensor, location=self.data_path.name, offset=offset, length=array.nbytes)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
        self.initializers.append(tensor)

    def close(self) -> None:
        if self.file:
            self.file.close()


def _per_column_int8(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    absmax = np.abs(matrix).max(axis=0).astype(np.float32)
    scale = np.where(absmax > 0, absmax / 127, 1).astype(np.float32)
    quantized = np.clip(np.round(matrix / scale), -127, 127).astype(np.int8)
    return quantized, scale


def _per_tensor_uint8(table: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    low, high = min(float(table.min()), 0.0), max(float(table.max()), 0.0)
    scale = np.float32((high - low) / 255 if high > low else 1.0)
    zero_point = np.uint8(round(-low / scale))
    quantized = np.clip(np.round(table / scale) + zero_point, 0, 255).astype(np.uint8)
    return quantized, scale, zero_point


def quantize_graph(source: Path, target: Path, keep_float=None) -> None:
    """Write the quantized graph of `source` to `target` (and `target.data` when its weights are external).
    `keep_float(node) -> bool` leaves the nodes it picks in float (for accuracy experiments)."""
    import onnx
    from onnx import helper
    from onnx.external_data_helper import uses_external_data

    from ..onnx.weights import INLINE_LIMIT

    proto = onnx.load(str(source), load_external_data=False)
    graph = proto.graph
    weights = _Weights(source.parent, graph)
    external = any(uses_external_data(t) for t in graph.initializer) or sum(len(t.raw_data) for t in graph.initializer) > INLINE_LIMIT
    writer = _Writer(target.with_name(f"{target.name}.data") if external else None)
    replaced: set[str] = set()
    quantized_weights: dict[str, tuple[str, str, str]] = {}
    quantized_inputs: dict[str, tuple[str, str, str]] = {}
    nodes = []
    try:
        for node in graph.node:
            if keep_float is not None and keep_float(node):
                nodes.append(node)
            elif node.op_type == "MatMul" and weights.float_matrix(node.input[1], 2):
                name = node.input[1]
                if name not in quantized_weights:
                    values, scale = _per_column_int8(np.asarray(weights.array(name), dtype=np.float32))
                    writer.add(f"{name}_quantized", values)
                    writer.add(f"{name}_scale", scale)
                    writer.add(f"{name}_zero_point", np.zeros(scale.shape, np.int8))
                    quantized_weights[name] = (f"{name}_quantized", f"{name}_scale", f"{name}_zero_point")
                    replaced.add(name)
                activation = node.input[0]
                if activation not in quantized_inputs:
                    outputs = (f"{activation}_quantized", f"{activation}_scale", f"{activation}_zero_point")
                    nodes.append(helper.make_node("DynamicQuantizeLinear", [activation], list(outputs), name=f"{activation}_QuantizeLinear"))
                    quantized_inputs[activation] = outputs
                x_q, x_scale, x_zero = quantized_inputs[activation]
                w_q, w_scale, w_zero = quantized_weights[name]
                out, stem = node.output[0], node.name or node.output[0]
                nodes += [
                    helper.make_node("Mul", [x_scale, w_scale], [f"{stem}_scales"], name=f"{stem}_scales_mul"),
                    helper.make_node("MatMulInteger", [x_q, w_q, x_zero, w_zero], [f"{stem}_int32"], name=f"{stem}_quant"),
                    helper.make_node("Cast", [f"{stem}_int32"], [f"{stem}_float"], to=onnx.TensorProto.FLOAT, name=f"{stem}_cast"),
                    helper.make_node("Mul", [f"{stem}_float", f"{stem}_scales"], [out], name=f"{stem}_rescale"),
                ]
            elif node.op_type == "Gather" and weights.float_matrix(node.input[0], 2):
                name = node.input[0]
                if name not in quantized_weights:
                    values, scale, zero_point = _per_tensor_uint8(np.asarray(weights.array(name), dtype=np.float32))
                    writer.add(f"{name}_quantized", values)
                    writer.add(f"{name}_scale", np.array(scale, np.float32))
                    writer.add(f"{name}_zero_point", np.array(zero_point, np.uint8))
                    quantized_weights[name] = (f"{name}_quantized", f"{name}_scale", f"{name}_zero_point")
                    replaced.add(name)
                table, scale_name, zero_name = quantized_weights[name]
                stem = node.name or node.output[0]
                gathered = helper.make_node("Gather", [table, node.input[1]], [f"{stem}_quantized"], name=stem)
                gathered.attribute.extend(node.attribute)
                nodes += [gathered, helper.make_node("DequantizeLinear", [f"{stem}_quantized", scale_name, zero_name], [node.output[0]], name=f"{stem}_dequantize")]
            else:
                nodes.append(node)
        used = {name for node in nodes for name in node.input}
        for tensor in graph.initializer:
            if tensor.name in replaced and tensor.name not in used:
                continue
            writer.add(tensor.name, weights.array(tensor.name))  # kept float weights, copied a tensor at a time
    finally:
        writer.close()
    kept = [_copy(node) for node in nodes]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(writer.initializers)
    if not any(opset.domain in ("", "ai.onnx") and opset.version >= 11 for opset in proto.opset_import):
        raise ValueError("DynamicQuantizeLinear needs opset 11 or newer")
    # Shapes of the intermediate tensors let ONNX Runtime fuse the quantized graph as it fuses the float one
    # (SkipLayerNormalization needs them); without them MiniLM's sentence embeddings lose 0.01 of cosine.
    proto = onnx.shape_inference.infer_shapes(proto)
    onnx.save(proto, str(target))


def _copy(message):
    copy = type(message)()
    copy.CopyFrom(message)
    return copy
