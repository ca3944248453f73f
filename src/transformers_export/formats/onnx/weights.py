"""Weights written once, streamed from the model's own tensors into the graph.

torch's TorchScript-based exporter, given the weights as parameters, runs its shape inference and constant folding on
their values (`Transpose(weight)` of every Linear: a second copy of the model, and most of the export time of a large
model), builds the whole protobuf in memory (a third), and above 2 GB writes one file per tensor. Instead the weights
are passed to the traced function as inputs (`WeightsAsInputs`): the trace sees tensors without values, named after
the parameters, and this module then turns those graph inputs into initializers:

- the bytes come straight from the model's tensors (`numpy` views, no copy) and are written once, each tensor at an
  aligned offset of one external file (`model.onnx.data`, page-aligned above 1 MB so ONNX Runtime can map it), or
  into the graph itself for small models;
- a parameter whose only consumers are `Transpose` nodes (every `Linear`) is written transposed and the Transpose is
  dropped, which is what constant folding did, one tensor at a time;
- a tensor that several names share (tied embeddings) is written once.

The peak extra memory is one transposed tensor, not the model. When the model's weights are streamed from the
checkpoint (`load`), each tensor is read, converted, written and dropped before the next.

`declare_weights` writes the initializers without their bytes (for a graph quantized on the way, whose float weights
are never written), and `store_shared_weights` moves the weights of several graphs into one shared file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

_PAGE, _SMALL_ALIGNMENT = 4096, 64
# Weights above this many bytes go to `model.onnx.data`; below it they stay inside the graph file (one file to ship).
# Inline weights are held once more while the protobuf is written, so the limit is far below protobuf's 2 GB.
INLINE_LIMIT = 256 * 1024**2


def needs_external_data(module: torch.nn.Module) -> bool:
    return sum(t.numel() * t.element_size() for t in module.parameters()) > INLINE_LIMIT


class WeightsAsInputs(torch.nn.Module):
    """`module` with its parameters taken as trailing forward arguments (`weight_names`, `weights`), so that a tracer
    records them as graph inputs. Tied parameters are one argument."""

    def __init__(self, module: torch.nn.Module, input_count: int):
        super().__init__()
        self.module = module
        self.input_count = input_count
        self.owners: dict[int, list] = {}
        for owner in module.modules():
            for attribute, parameter in owner._parameters.items():
                if parameter is not None:
                    self.owners.setdefault(id(parameter), []).append((owner, attribute))
        named = dict(module.named_parameters())  # one name per tensor
        self.weight_names = list(named)
        self.weights = tuple(named.values())
        self.eval()

    def forward(self, *arguments):
        inputs, weights = arguments[: self.input_count], arguments[self.input_count :]
        swapped = []
        try:
            for parameter, value in zip(self.weights, weights):
                for owner, attribute in self.owners[id(parameter)]:
                    swapped.append((owner, attribute, owner._parameters[attribute]))
                    owner._parameters[attribute] = value
            return self.module(*inputs)
        finally:
            for owner, attribute, parameter in reversed(swapped):
                owner._parameters[attribute] = parameter


def _onnx_type(dtype) -> int:
    import onnx

    types = {
        torch.float32: onnx.TensorProto.FLOAT,
        torch.float16: onnx.TensorProto.FLOAT16,
        torch.bfloat16: onnx.TensorProto.BFLOAT16,
        torch.float64: onnx.TensorProto.DOUBLE,
        torch.int64: onnx.TensorProto.INT64,
        torch.int32: onnx.TensorProto.INT32,
        torch.int8: onnx.TensorProto.INT8,
        torch.uint8: onnx.TensorProto.UINT8,
        torch.bool: onnx.TensorProto.BOOL,
    }
    return types[dtype]


def _bytes(tensor):
    """A zero-copy byte view of a contiguous tensor (a copy only for non-contiguous ones)."""
    return tensor.detach().contiguous().view(torch.uint8).reshape(-1).numpy()


def attach_weights(path: Path, tensors: Mapping[str, object], external: bool, progress=None, load=None) -> int:
    """Turn the graph inputs of `path` that name a tensor in `tensors` into initializers; return the bytes written.

    `load(tensor)` gives the values of a tensor of `tensors` (for placeholders of a streamed checkpoint; by default the
    tensor itself), called once per tensor right before it is written. `progress(bytes_written, bytes_total)` is
    called after each tensor is written.
    """
    import onnx
    from onnx.external_data_helper import set_external_data

    proto = onnx.load(str(path), load_external_data=False)
    graph = proto.graph
    weight_inputs = [graph_input for graph_input in graph.input if graph_input.name in tensors]
    if not weight_inputs:
        return 0
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    data_name = f"{path.name}.data"
    stored: dict[tuple, tuple[int, int]] = {}  # (storage pointer, offset, shape, perm) -> (file offset, length)
    written = done = 0
    total = sum(
        tensors[graph_input.name].numel() * tensors[graph_input.name].element_size() for graph_input in weight_inputs
    )
    folded: set[str] = set()  # outputs of the Transpose nodes now stored pre-transposed
    attached: set[str] = set()
    data = open(path.parent / data_name, "wb") if external else None
    try:
        for graph_input in weight_inputs:
            placeholder = tensors[graph_input.name]
            tensor = placeholder if load is None else load(placeholder)
            users = consumers.get(graph_input.name, [])
            perms = {
                tuple(attribute.ints)
                for node in users
                if node.op_type == "Transpose"
                for attribute in node.attribute
                if attribute.name == "perm"
            }
            transposed_only = users and all(node.op_type == "Transpose" for node in users) and len(perms) == 1
            if transposed_only:
                perm = perms.pop()
                name, value = users[0].output[0], tensor.permute(*perm)
                for node in users[1:]:  # the same transpose more than once: its outputs become the first's
                    _rename_input(graph, node.output[0], name)
                folded.update(node.output[0] for node in users)
            else:
                perm, name, value = None, graph_input.name, tensor
            initializer = onnx.TensorProto(name=name, data_type=_onnx_type(value.dtype), dims=list(value.shape))
            raw = _bytes(value)  # a view of the tensor; a transposed copy of it for folded weights
            if data is None:
                initializer.raw_data = raw.tobytes()
            else:
                key = (
                    placeholder.untyped_storage().data_ptr(),
                    placeholder.storage_offset(),
                    tuple(tensor.shape),
                    perm,
                )
                if key not in stored:
                    alignment = _PAGE if raw.nbytes >= 1 << 20 else _SMALL_ALIGNMENT
                    data.write(b"\0" * (-data.tell() % alignment))
                    stored[key] = (data.tell(), raw.nbytes)
                    data.write(memoryview(raw))
                    written += raw.nbytes
                offset, length = stored[key]
                initializer.raw_data = b""  # set_external_data wants the field present
                set_external_data(initializer, location=data_name, offset=offset, length=length)
                initializer.data_location = onnx.TensorProto.EXTERNAL
                initializer.ClearField("raw_data")
            graph.initializer.append(initializer)
            done += raw.nbytes
            del raw, tensor, value  # a streamed tensor is released before the next is read
            if progress:
                progress(min(done, total), total)
            attached.add(graph_input.name)
    finally:
        if data is not None:
            data.close()
    # rebuilt rather than removed one by one: removing from a repeated field compares messages, quadratic in size
    kept_nodes = [_copy(node) for node in graph.node if not (node.op_type == "Transpose" and node.output[0] in folded)]
    kept_inputs = [_copy(graph_input) for graph_input in graph.input if graph_input.name not in attached]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.input[:]
    graph.input.extend(kept_inputs)
    onnx.save(proto, str(path))
    return written if external else sum(len(i.raw_data) for i in graph.initializer)


def _copy(message):
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def _rename_input(graph, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    for output in graph.output:
        if output.name == old:
            output.name = new


def declare_weights(path: Path, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Turn the graph inputs of `path` that name a tensor in `tensors` into initializers with a type and shape but no
    data yet, for a rewrite that writes each value as it reads it (the quantizer, from a streamed checkpoint); returns
    the declared names and their tensors. The graph cannot run until that rewrite has written it."""
    import onnx
    from onnx.external_data_helper import set_external_data

    proto = onnx.load(str(path), load_external_data=False)
    graph = proto.graph
    declared = {
        graph_input.name: tensors[graph_input.name] for graph_input in graph.input if graph_input.name in tensors
    }
    for name, tensor in declared.items():
        initializer = onnx.TensorProto(name=name, data_type=_onnx_type(tensor.dtype), dims=list(tensor.shape))
        initializer.raw_data = b""
        set_external_data(initializer, location=f"{path.name}.data", offset=0, length=0)
        initializer.data_location = onnx.TensorProto.EXTERNAL
        initializer.ClearField("raw_data")
        graph.initializer.append(initializer)
    kept_inputs = [_copy(graph_input) for graph_input in graph.input if graph_input.name not in declared]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    onnx.save(proto, str(path))
    return declared


SHARED_WEIGHTS = "model.onnx.data"
_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data")


def store_shared_weights(paths: list[Path], data_name: str = SHARED_WEIGHTS) -> None:
    """Store the weights of several graphs in one external file, each distinct tensor once.

    Encoder and decoder graphs of one model share tensors (embeddings above all); saved separately they would be
    on disk twice. Graphs reference the file by offset, which ONNX Runtime and onnx.load both understand.
    """
    import hashlib

    import onnx
    from onnx.external_data_helper import set_external_data

    folder = paths[0].parent
    protos = [onnx.load(str(path)) for path in paths]
    stored: dict[tuple, tuple[int, int]] = {}
    with open(folder / data_name, "wb") as data:
        for proto in protos:
            for tensor in proto.graph.initializer:
                raw = onnx.numpy_helper.to_array(tensor).tobytes()
                if len(raw) < 1024:
                    continue
                key = (hashlib.sha256(raw).digest(), tensor.data_type, tuple(tensor.dims))
                if key not in stored:
                    alignment = _PAGE if len(raw) >= 1 << 20 else _SMALL_ALIGNMENT
                    data.write(b"\0" * (-data.tell() % alignment))
                    stored[key] = (data.tell(), len(raw))
                    data.write(raw)
                for data_field in _DATA_FIELDS:
                    tensor.ClearField(data_field)
                del tensor.external_data[:]
                offset, length = stored[key]
                tensor.raw_data = raw  # set_external_data insists on raw_data being there
                set_external_data(tensor, location=data_name, offset=offset, length=length)
                tensor.data_location = onnx.TensorProto.EXTERNAL
                tensor.ClearField("raw_data")
    for proto, path in zip(protos, paths):
        Path(f"{path}.data").unlink(missing_ok=True)
        onnx.save(proto, str(path))
