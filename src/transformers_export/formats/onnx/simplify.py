"""Shape arithmetic folded and no-op nodes removed from a traced graph, with onnxscript's optimizer.

The trace engine writes what the model computes with dynamic shapes: every layer reads `Shape`, `Gather`s a dim,
`Unsqueeze`s and `Concat`s it into a `Reshape` target, even where the dim is a constant of the model (heads, head
width), and casts or reshapes that change nothing. ONNX Runtime runs each of these nodes on every call; in a decoding
step, where the products are small, they are a large part of the time. onnxscript's optimizer (one pass: constant
folding with shape inference, then its default rewrite rules) folds them into constants: the Llama, Qwen2, Phi-3,
Gemma and GPT-2 decoding steps take 0.87-0.97x the time, with half the nodes (benchmarks/RESULTS.md, issue #30).
The dynamo engine already runs it.

Only the graph proto changes: weights in an external file stay where they are, and no folding reads them (folding
takes inputs up to `INPUT_LIMIT` elements; weights stay initializers).
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

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

    model = ir.serde.deserialize_model(proto)
    names = _interface(model)
    onnxscript.optimizer.fold_constants(model, input_size_limit=INPUT_LIMIT, output_size_limit=OUTPUT_LIMIT)
    onnxscript.rewriter.rewrite(model)  # its default rules: no-op casts, reshapes, slices and the like
    RemoveUnusedNodesPass()(model)
    CommonSubexpressionEliminationPass()(model)
    return ir.serde.serialize_model(model) if _interface(model) == names else proto


def _interface(model) -> tuple[list[str], list[str]]:
    return [value.name for value in model.graph.inputs], [value.name for value in model.graph.outputs]
