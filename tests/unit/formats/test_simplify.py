"""The simplification of a traced graph on the shape chain the trace engine writes for `x.view(x.shape[0], x.shape[1],
heads, -1)`: dims that are constants of the model fold away, a dynamic dim stays one node, and the graph computes the
same thing on shapes it was not traced with."""

from collections import Counter

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper

from transformers_export.formats.onnx.simplify import simplify

HEADS, WIDTH = 4, 8


def _traced_view():
    """y = Reshape(x, [x.shape[0], x.shape[1], HEADS, x.shape[2] // HEADS]), each dim read as a scalar Gather of
    Shape(x) and Unsqueezed into the Concat, as the TorchScript trace writes it."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"])]
    dims = []
    for k in range(3):
        nodes += [
            helper.make_node("Constant", [], [f"k{k}"], value=helper.make_tensor(f"k{k}", TensorProto.INT64, [], [k])),
            helper.make_node("Gather", ["shape", f"k{k}"], [f"dim{k}"], axis=0),
        ]
    nodes += [
        helper.make_node("Constant", [], ["heads"], value=helper.make_tensor("h", TensorProto.INT64, [], [HEADS])),
        helper.make_node("Div", ["dim2", "heads"], ["width"]),
        helper.make_node("Constant", [], ["axes"], value=helper.make_tensor("a", TensorProto.INT64, [1], [0])),
    ]
    for name in ("dim0", "dim1", "heads", "width"):
        nodes.append(helper.make_node("Unsqueeze", [name, "axes"], [f"{name}_1d"]))
    nodes += [
        helper.make_node("Concat", ["dim0_1d", "dim1_1d", "heads_1d", "width_1d"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
        # a dynamic dim that feeds arithmetic as a scalar, not only a Reshape target
        helper.make_node("Cast", ["dim1"], ["length"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["y", "length"], ["scaled"]),
    ]
    graph = helper.make_graph(
        nodes,
        "view",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", HEADS * WIDTH])],
        [helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["batch", "sequence", HEADS, WIDTH])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x):
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_static_dims_fold_and_dynamic_dims_stay_one_node_each():
    traced = _traced_view()
    simplified = simplify(traced)
    ops = Counter(node.op_type for node in simplified.graph.node)
    assert ops["Gather"] == 0 and ops["Div"] == 0, ops  # the width (dim 2 // heads) is a constant of the model
    assert ops["Unsqueeze"] == 0, ops  # each dynamic dim is read as a one-element Shape, not a scalar made 1-D
    shape_ranges = sorted(
        (attribute.name, attribute.i)
        for node in simplified.graph.node
        if node.op_type == "Shape"
        for attribute in node.attribute
    )
    assert shape_ranges == [("end", 1), ("end", 2), ("start", 0), ("start", 1)]  # batch and sequence, nothing else
    assert sum(ops.values()) < len(traced.graph.node) - 8
    for batch, length in ((1, 1), (3, 17)):
        x = np.random.default_rng(batch).standard_normal((batch, length, HEADS * WIDTH)).astype(np.float32)
        np.testing.assert_array_equal(_run(simplified, x), _run(traced, x))


def test_interface_names_and_order_are_kept():
    simplified = simplify(_traced_view())
    assert [value.name for value in simplified.graph.input] == ["x"]
    assert [value.name for value in simplified.graph.output] == ["scaled"]
    onnx.checker.check_model(simplified, full_check=True)
