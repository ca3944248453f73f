"""Where the trace engine (torch's TorchScript-based ONNX exporter) writes a graph that is wrong or that ONNX Runtime
cannot load, for operations transformers models use; and the fixes. Each fix keeps the model's arithmetic exactly.

- `traceable_ops`, around the trace: `repeat_interleave` by a constant count is exported with the traced sizes
  baked into a Reshape (the interleaved rotary embeddings of Helium, Cohere, Ernie 4.5 then fail at any other
  sequence length). Written as unsqueeze-expand-flatten instead, it exports with the sizes read at run time.
- `count_bools_as_integers`, on the written graph: casts where torch computes on booleans as integers.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


def _interleave(tensor, repeats, dim=None, *, output_size=None, original):
    import torch

    if isinstance(repeats, int) and dim is not None and tensor.dim() > 0 and not torch.jit.is_scripting():
        axis = dim % tensor.dim()
        sizes = [*tensor.shape[: axis + 1], repeats, *tensor.shape[axis + 1 :]]
        return tensor.unsqueeze(axis + 1).expand(sizes).flatten(axis, axis + 1)
    return original(tensor, repeats, dim, output_size=output_size)


@contextmanager
def traceable_ops(engine: str) -> Iterator[None]:
    """For the trace engine, replace torch's operations whose export is wrong by equal ones that export right; always
    put the originals back."""
    import torch

    if engine != "trace":
        yield
        return
    method, function = torch.Tensor.repeat_interleave, torch.repeat_interleave

    def tensor_method(self, repeats, dim=None, *, output_size=None):
        return _interleave(self, repeats, dim, output_size=output_size, original=method)

    def module_function(tensor, repeats=None, dim=None, *, output_size=None):
        if repeats is None:  # torch.repeat_interleave(counts): the indices form
            return function(tensor, output_size=output_size)
        return _interleave(tensor, repeats, dim, output_size=output_size, original=function)

    torch.Tensor.repeat_interleave, torch.repeat_interleave = tensor_method, module_function
    try:
        yield
    finally:
        torch.Tensor.repeat_interleave, torch.repeat_interleave = method, function


def count_bools_as_integers(proto) -> bool:
    """torch sums and compares booleans as integers (`(mask.cumsum(-1) == zeros_like(mask))` in transformers' chunked
    attention masks); the trace engine writes a CumSum of a bool tensor, or an Equal of a bool and an int64 one, which
    ONNX does not define. A Cast to int64 goes in front of such a bool input. True if one was added."""
    import onnx

    integer, boolean = onnx.TensorProto.INT64, onnx.TensorProto.BOOL
    changed = False
    for op_type in ("CumSum", "Equal"):  # in this order: a CumSum counted as int64 makes an Equal after it mixed
        if not any(node.op_type == "CumSum" for node in proto.graph.node):
            break  # booleans are only ever counted by a CumSum: most graphs need no shape inference at all
        inferred = onnx.shape_inference.infer_shapes(proto).graph
        types = {info.name: info.type.tensor_type.elem_type for info in [*inferred.value_info, *inferred.input]}
        for index in reversed(range(len(proto.graph.node))):
            node = proto.graph.node[index]
            if node.op_type != op_type:
                continue
            if op_type == "CumSum":
                positions = [0] if types.get(node.input[0]) == boolean else []
            elif {types.get(name) for name in node.input} == {integer, boolean}:
                positions = [position for position, name in enumerate(node.input) if types.get(name) == boolean]
            else:
                continue
            for position in positions:
                counted = f"{node.input[position]}_as_int64"
                proto.graph.node.insert(
                    index,
                    onnx.helper.make_node(
                        "Cast", [node.input[position]], [counted], to=integer, name=f"{node.name}_cast{position}"
                    ),
                )
                node.input[position] = counted
                changed = True
    return changed
