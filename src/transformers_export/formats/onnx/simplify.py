"""Shape arithmetic folded and no-op nodes removed from a traced graph, with onnxscript's optimizer.

The trace engine writes what the model computes with dynamic shapes: every layer reads `Shape`, `Gather`s a dim,
`Unsqueeze`s and `Concat`s it into a `Reshape` target, even where the dim is a constant of the model (heads, head
width), and casts or reshapes that change nothing. ONNX Runtime runs each of these nodes on every call; in a decoding
step, where the products are small, they are a large part of the time. onnxscript's constant folding (with shape
inference) and its rewrite rules for no-op and chained shape operations fold them away, with our rules for dims read
one at a time (shape_rules.py): the decoding steps of 16 decoder families take 0.78-0.99x Optimum's time
(benchmarks/RESULTS.md, #30).
The dynamo engine already runs it.

It runs on the graph as traced, before the weights are attached (they are graph inputs then), so only a small proto
is read and written, and no folding could read a weight; folding also takes inputs of at most `INPUT_LIMIT` elements.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

# onnxscript's rules (onnxscript.rewriter.rules.common) that rewrite anything in our traced graphs. Counted on 18
# families (encoders, decoders with a cache, seq2seq and speech decoders, vision, audio; fp32 and fp16) and the 47
# models of benchmarks/graph_speed.py, these fired (reshape-reshape on Swin's windows only) and its other no-op and
# shape rules never did, while each rule costs a match attempt at every node (0.18 s of a 0.1B Llama's export for
# the 16). Not its whole default set either: its arithmetic identities (`x + 0 -> x`, `x * 1 -> x`) drop a broadcast
# the zero or one carried (a Helium graph gave NaN rows for right-padded inputs), and its convolution and batch-norm
# fusions change the numerics.
RULES = (
    "unsqueeze_unsqueeze_rule", "reshape_reshape_rule", "flatten_to_reshape_rule", "transpose_transpose_rule",
    "cast_constant_of_shape_rule", "cast_constant_of_shape_without_value_rule",
)  # fmt: skip
# elements of the largest tensor a fold may read or write: shape vectors and small constants, never weights
INPUT_LIMIT = 1024
OUTPUT_LIMIT = 1024


def simplify_file(path: Path) -> None:
    """Simplify the graph at `path` in place (its external weights untouched). An optimizer that fails leaves the
    graph as traced, with a warning: the simplification changes speed, never what the graph computes."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    try:
        simplified = simplify(proto)
    except Exception as error:  # noqa: BLE001 - onnxscript's passes raise their own types; the traced graph is valid
        logger.warning("kept the traced graph unsimplified: onnxscript's optimizer failed (%s)", error)
        return
    if simplified is not proto:
        onnx.save(simplified, str(path))


def simplify(proto):
    """The graph `proto` (loaded without its external data) with shape arithmetic folded; input and output names,
    their order and the weights are kept. Not `onnxscript.optimizer.optimize` itself: its initializer deduplication
    reads every weight, which for a model larger than memory is the whole checkpoint again."""
    import onnx_ir as ir
    import onnxscript.optimizer
    import onnxscript.rewriter
    from onnx_ir.passes.common import CommonSubexpressionEliminationPass, RemoveUnusedNodesPass
    from onnxscript.rewriter.rules import common

    from .shape_rules import RULES as SHAPE_RULES

    model = ir.serde.deserialize_model(proto)
    names = _interface(model)
    rules = [getattr(common, name) for name in RULES] + list(SHAPE_RULES)
    onnxscript.optimizer.fold_constants(model, input_size_limit=INPUT_LIMIT, output_size_limit=OUTPUT_LIMIT)
    onnxscript.rewriter.rewrite(model, pattern_rewrite_rules=rules)
    # again: the dims the shape rules exposed fold to constants now, and the Reshape targets built from them
    onnxscript.optimizer.fold_constants(model, input_size_limit=INPUT_LIMIT, output_size_limit=OUTPUT_LIMIT)
    RemoveUnusedNodesPass()(model)
    CommonSubexpressionEliminationPass()(model)
    return ir.serde.serialize_model(model) if _interface(model) == names else proto


def _interface(model) -> tuple[list[str], list[str]]:
    return [value.name for value in model.graph.inputs], [value.name for value in model.graph.outputs]
