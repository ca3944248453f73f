"""Where the trace engine (torch's TorchScript-based ONNX exporter) writes a graph that is wrong or that ONNX Runtime
cannot load, for operations transformers models use; and the fixes. Each fix keeps the model's arithmetic exactly.

- `traceable_ops`, around the trace: `repeat_interleave` by a constant count is exported with the traced sizes
  baked into a Reshape (the interleaved rotary embeddings of Helium, Cohere, Ernie 4.5 then fail at any other
  sequence length). Written as unsqueeze-expand-flatten instead, it exports with the sizes read at run time.
  `scaled_dot_product_attention` with a boolean mask is written with float32 constants for the mask (0 and -inf);
  in an fp16 or bf16 model, the exporter then widens the scores and everything after them to float32, and
  ONNX Runtime refuses the graph where a LayerNormalization meets fp16 weights (BERT-family fp16 graphs). The same
  operation is written with its constants in the query's type.
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
        with _attention_in_the_query_type():
            yield
    finally:
        torch.Tensor.repeat_interleave, torch.repeat_interleave = method, function


class _ConstantsAs:
    """A graph context whose float32 constants are made in `dtype` instead."""

    def __init__(self, graph, dtype):
        self._graph, self._dtype = graph, dtype

    def op(self, name, *args, **kwargs):
        import torch

        value = kwargs.get("value_t")
        if name == "Constant" and value is not None and value.dtype == torch.float32:
            kwargs["value_t"] = value.to(self._dtype)
        return self._graph.op(name, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._graph, name)


@contextmanager
def _attention_in_the_query_type() -> Iterator[None]:
    import torch
    from torch.onnx._internal.torchscript_exporter import symbolic_opset14

    name, opset = "aten::scaled_dot_product_attention", 14
    original = symbolic_opset14.scaled_dot_product_attention
    narrow = {"Half": torch.float16, "BFloat16": torch.bfloat16}

    def symbolic(graph, query, *args):
        dtype = narrow.get(query.type().scalarType()) if query.type().kind() == "TensorType" else None
        return original(_ConstantsAs(graph, dtype) if dtype else graph, query, *args)

    torch.onnx.register_custom_op_symbolic(name, symbolic, opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic(name, opset)


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
