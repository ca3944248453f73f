"""Rewrite rules that let onnxscript's constant folding see the dims a traced graph reads one at a time.

The trace engine writes `x.shape[k]` as `Gather(Shape(x), k)` with a scalar index, and then `Unsqueeze`s the scalar
to `Concat` it into a `Reshape` target. onnxscript's folding (0.7) turns a `Gather` of a shape into a constant only
for a vector index, so dims that are constants of the model (heads, head width) stayed three nodes each, on every
layer: a Falcon decoding step ran 1.11x Optimum's time (benchmarks/RESULTS.md, #30). The rules below rewrite that
chain into `Shape(x, start=k, end=k+1)`, which folding turns into a constant where dim k is static, and which is one
node instead of three where it is not.
"""

from __future__ import annotations

import onnx_ir as ir
from onnxscript.rewriter import MatchResult, RewriteRuleClassBase


class DimOfShape(RewriteRuleClassBase):
    """`Gather(Shape(x), k)`, k a constant scalar >= 0 -> `Squeeze(Shape(x, start=k, end=k+1), [0])`: the same
    scalar, in the form folding understands. Only the `Gather` is replaced: the `Shape` may feed other nodes."""

    def pattern(self, op, shape, index):
        return op.Gather(shape, index, _allow_other_attributes=True)

    def check(self, context, shape, index, **_) -> MatchResult:
        result = MatchResult()
        node = shape.producer()
        if node is None or node.op_type != "Shape" or node.domain not in ("", "ai.onnx"):
            return result.fail("not the output of a Shape")
        if "start" in node.attributes or "end" in node.attributes:
            return result.fail("a Shape with a range")
        if context.root.attributes.get_int("axis", 0) != 0:
            return result.fail("not along axis 0")
        dim = _scalar(index)
        if dim is None or dim < 0:
            return result.fail("the index is not a constant scalar >= 0")
        return result

    def rewrite(self, op, shape, index, **_):
        dim = _scalar(index)
        source = shape.producer().inputs[0]
        return op.Squeeze(op.Shape(source, start=dim, end=dim + 1), _axes(op))


class UnsqueezeOfSqueezedDim(RewriteRuleClassBase):
    """`Unsqueeze(Squeeze(Shape(x, start=k, end=k+1), [0]), [0])` -> the one-element `Shape` itself. Only the
    `Unsqueeze` is replaced: the scalar may feed arithmetic too."""

    def pattern(self, op, scalar, axes):
        return op.Unsqueeze(scalar, axes)

    def check(self, context, scalar, axes, **_) -> MatchResult:
        result = MatchResult()
        squeeze = scalar.producer()
        if squeeze is None or squeeze.op_type != "Squeeze" or len(squeeze.inputs) != 2:
            return result.fail("not the output of a Squeeze with axes")
        if not (_is_zero_axis(squeeze.inputs[1]) and _is_zero_axis(axes)):
            return result.fail("axes other than [0]")
        if not _one_element(squeeze.inputs[0]):
            return result.fail("the squeezed value is not a one-element vector")
        return result

    def rewrite(self, op, scalar, axes, **_):
        return op.Identity(scalar.producer().inputs[0])


def _constant(value: ir.Value | None):
    """The value as a numpy array if it is a constant (an initializer or a Constant node's output), else None."""
    tensor = ir.convenience.get_const_tensor(value) if value is not None else None
    return None if tensor is None else tensor.numpy()


def _scalar(value: ir.Value | None) -> int | None:
    array = _constant(value)
    return int(array) if array is not None and array.ndim == 0 and array.dtype.kind in "iu" else None


def _is_zero_axis(value: ir.Value | None) -> bool:
    array = _constant(value)
    return array is not None and array.tolist() == [0]


def _one_element(value: ir.Value) -> bool:
    if value.shape is not None and list(value.shape) == [1]:
        return True
    node = value.producer()  # a Shape this module wrote: its output's shape is not inferred yet
    if node is None or node.op_type != "Shape":
        return False
    start, end = node.attributes.get_int("start", 0), node.attributes.get_int("end", None)
    return end is not None and 0 <= start and end - start == 1


def _axes(op):
    return op.Constant(value=ir.tensor([0], dtype=ir.DataType.INT64))


RULES = (DimOfShape.rule(), UnsqueezeOfSqueezedDim.rule())
