"""Which nodes of a float graph the quantization rewrite changes: matrix products with a constant 2-D weight
(`MatMul`, GPT-2's `Gemm`, a tied LM head reading its table through a `Transpose`) and embedding lookups of a constant
table, read from the graph without loading its weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .storage import WeightReader


def _attribute(node, name: str, default):
    from onnx import helper

    found = next((attribute for attribute in node.attribute if attribute.name == name), None)
    return default if found is None else helper.get_attribute_value(found)


def is_lookup(node, weights: WeightReader) -> bool:
    """`Gather(E, ids)` of a constant float table along its rows (an embedding)."""
    return node.op_type == "Gather" and weights.is_float_matrix(node.input[0]) and _attribute(node, "axis", 0) == 0


@dataclass(frozen=True)
class Product:
    """`out = x @ W (+ bias)` with W (K, N) a constant: the initializer `weight`, or its transpose (a tied LM head reads
    the embedding table through a Transpose; GPT-2's Conv1D is a Gemm)."""

    node: object
    x: str
    weight: str
    transposed: bool
    out: str
    bias: str | None = None


def find_product(node, producers, weights: WeightReader) -> Product | None:
    if node.op_type == "MatMul":
        if weights.is_float_matrix(node.input[1]):
            return Product(node, node.input[0], node.input[1], False, node.output[0])
        transpose = producers.get(node.input[1])
        if (
            transpose is not None
            and transpose.op_type == "Transpose"
            and weights.is_float_matrix(transpose.input[0])
            and list(_attribute(transpose, "perm", [1, 0])) == [1, 0]
        ):
            return Product(node, node.input[0], transpose.input[0], True, node.output[0])
    if node.op_type == "Gemm" and weights.is_float_matrix(node.input[1]) and not _attribute(node, "transA", 0):
        if _attribute(node, "alpha", 1.0) == 1.0 and (len(node.input) < 3 or _attribute(node, "beta", 1.0) == 1.0):
            bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
            return Product(
                node, node.input[0], node.input[1], bool(_attribute(node, "transB", 0)), node.output[0], bias
            )
    return None


def live_nodes(nodes: list, outputs: set[str]) -> list:
    """Without the nodes nothing reads any more (the Transpose of a table whose product is now quantized)."""
    while True:
        read = {name for node in nodes for name in reads_of(node)} | outputs
        kept = [node for node in nodes if any(output in read for output in node.output)]
        if len(kept) == len(nodes):
            return nodes
        nodes = kept


def reads_of(node) -> set[str]:
    """Inputs, and the outer names that subgraphs (If, Loop, Scan) read."""
    from onnx import AttributeProto

    names = set(node.input)
    for attribute in node.attribute:
        graphs = [attribute.g] if attribute.type == AttributeProto.GRAPH else list(attribute.graphs)
        for graph in graphs:
            for inner in graph.node:
                names |= reads_of(inner)
    return names


def weight_dims(weights: WeightReader, product: Product) -> tuple[int, int]:
    rows, cols = weights.tensors[product.weight].dims
    return (cols, rows) if product.transposed else (rows, cols)


def weight_matrix(weights: WeightReader, product: Product) -> np.ndarray:
    """W as (K, N) float32 (a transposed view, not a copy, when the graph transposes it)."""
    values = np.asarray(weights.array(product.weight), np.float32)
    return values.T if product.transposed else values
