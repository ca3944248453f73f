"""The graph rewrite of one quantization preset (`presets.py`): matrix products with a constant weight and embedding
lookups of a constant table become their quantized forms; everything else (convolutions, the attention's own
products, norms) stays float. Weights are streamed through `storage.py` one tensor at a time."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from .numerics import (
    MATMUL_INTEGER_LARGEST,
    blockwise,
    per_column_int8,
    per_row_int8,
    per_tensor_uint8,
    smoothing_factors,
)
from .calibrate import channel_absmax
from .presets import Preset
from .products import Product, find_product, is_lookup, live_nodes, reads_of, weight_dims, weight_matrix
from .storage import WeightReader, WeightWriter


def quantize_graph(
    source: Path,
    target: Path,
    preset: Preset,
    calibration: Iterable[Mapping[str, np.ndarray]] = (),
    keep_float: Callable | None = None,
    streamed: Mapping[str, Callable[[], np.ndarray]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write the quantized graph of `source` to `target` (and `target.data` when its weights are external).
    `calibration`: input feeds for presets with smoothing. `keep_float(node) -> bool` leaves the nodes it picks in
    float (for accuracy experiments). `streamed`: values of the initializers `source` declares without data (see
    `WeightReader`); each is read once. `progress(bytes)` after each weight, with the float bytes it stood for."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    from ..formats.onnx.weights import INLINE_LIMIT

    proto = onnx.load(str(source), load_external_data=False)
    graph = proto.graph
    weights = WeightReader(source.parent, graph, streamed)
    external = (
        any(uses_external_data(t) for t in graph.initializer if t.name not in weights.streamed)
        or sum(weights.nbytes(t.name) for t in graph.initializer) > INLINE_LIMIT
    )
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ValueError(f"quantized graphs need opset 13 or newer, this one has {opset}")
    chosen = [node for node in graph.node if not (keep_float and keep_float(node))]
    producers = {output: node for node in graph.node for output in node.output}
    products = {id(node): product for node in chosen if (product := find_product(node, producers, weights))}
    lookups = {id(node) for node in chosen if preset.gather != "float" and is_lookup(node, weights)}
    factors = {}
    if preset.needs_calibration and products:
        ranges = (
            channel_absmax(source, [product.x for product in products.values()], calibration) if calibration else {}
        )
        factors = _smoothing(products.values(), ranges, weights, preset.smoothing)
    writer = WeightWriter(target.with_name(f"{target.name}.data") if external else None)
    rewrite = _Rewrite(weights, writer, preset, factors)
    try:
        for node in graph.node:
            if id(node) in products:
                rewrite.product(products[id(node)])
                if progress:
                    progress(weights.nbytes(products[id(node)].weight))
            elif id(node) in lookups:
                rewrite.gather(node)
                if progress:
                    progress(weights.nbytes(node.input[0]))
            else:
                rewrite.nodes.append(node)
        rewrite.nodes = live_nodes(rewrite.nodes, {output.name for output in graph.output})
        used = {name for node in rewrite.nodes for name in reads_of(node)}
        for tensor in graph.initializer:
            if tensor.name in rewrite.replaced and tensor.name not in used:
                continue
            writer.add(tensor.name, weights.array(tensor.name))  # kept float weights, copied a tensor at a time
            if progress and tensor.name not in rewrite.replaced:
                progress(weights.nbytes(tensor.name))
    finally:
        writer.close()
    kept = [_copy(node) for node in rewrite.nodes]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(writer.initializers)
    if any(node.domain == "com.microsoft" for node in kept) and not any(
        o.domain == "com.microsoft" for o in proto.opset_import
    ):
        proto.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    # Shapes of the intermediate tensors let ONNX Runtime fuse the quantized graph as it fuses the float one
    # (SkipLayerNormalization needs them); without them MiniLM's sentence embeddings lose 0.01 of cosine.
    proto = onnx.shape_inference.infer_shapes(proto)
    onnx.save(proto, str(target))


def _smoothing(
    products, ranges: Mapping[str, np.ndarray], weights: WeightReader, alpha: float
) -> dict[str, np.ndarray]:
    """Per activation, SmoothQuant's factors over all the products that read it (they share one quantized copy)."""
    readers = defaultdict(list)
    for product in products:
        readers[product.x].append(product)
    factors = {}
    for activation, reading in readers.items():
        if activation not in ranges:
            continue
        row_absmax = np.max([np.abs(weight_matrix(weights, p)).max(axis=1) for p in reading], axis=0)
        if row_absmax.shape == ranges[activation].shape:
            factors[activation] = smoothing_factors(ranges[activation], row_absmax, alpha)
    return factors


class _Rewrite:
    """The nodes of the rewritten graph, and the quantized tensors written so far."""

    def __init__(self, weights: WeightReader, writer: WeightWriter, preset: Preset, factors: dict):
        self.weights, self.writer, self.preset, self.factors = weights, writer, preset, factors
        self.nodes: list = []
        self.replaced: set[str] = set()
        self.stored: dict[tuple, tuple] = {}
        self.activations: dict[str, tuple] = {}
        self.names: set[str] = set()

    def constant(self, name: str, value) -> str:
        if name not in self.names:
            self.names.add(self.writer.add(name, np.asarray(value)))
        return name

    def _node(self, op: str, inputs: list[str], output: str, **attributes) -> str:
        from onnx import helper

        domain = attributes.pop("domain", "")
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attributes))
        return output

    def _weight(self, name: str, key: tuple, make: Callable) -> tuple:
        if key not in self.stored:
            # one weight quantized twice (smoothed for two activations, or a table also multiplied) gets two names
            tag = f"_{len([k for k in self.stored if k[0] == name])}" if name in self.replaced else ""
            self.stored[key] = tuple(self._unique(f"{name}_{suffix}{tag}", value) for suffix, value in make())
            self.replaced.add(name)
        return self.stored[key]

    def _unique(self, name: str, value) -> str:
        self.names.add(self.writer.add(name, value))
        return name

    def product(self, product: Product) -> None:
        rows, cols = weight_dims(self.weights, product)
        scheme = self.preset.wide if self.preset.wide and rows > cols else self.preset.matmul
        stem = product.node.name or product.out
        out = f"{stem}_unbiased" if product.bias else product.out
        getattr(self, "_" + scheme.replace("-", "_"))(product, stem, out)
        if product.bias:
            self._node("Add", [out, product.bias], product.out)

    def _per_tensor(self, product: Product, stem: str, out: str) -> None:
        from onnx import helper

        x = product.x
        factors = self.factors.get(x)
        w_q, w_scale, w_zero = self._weight(
            product.weight,
            (product.weight, product.transposed, x),
            lambda: (
                _per_column(weight_matrix(self.weights, product) * (factors[:, None] if factors is not None else 1))
                + [("zero_point", np.zeros(weight_dims(self.weights, product)[1], np.int8))]
            ),
        )
        if x not in self.activations:
            source = x
            if factors is not None:
                source = self._node(
                    "Mul", [x, self._unique(f"{x}_smoothing", (1 / factors).astype(np.float32))], f"{x}_smoothed"
                )
            outputs = [f"{x}_quantized", f"{x}_scale", f"{x}_zero_point"]
            self.nodes.append(helper.make_node("DynamicQuantizeLinear", [source], outputs, name=f"{x}_QuantizeLinear"))
            self.activations[x] = tuple(outputs)
        x_q, x_scale, x_zero = self.activations[x]
        scales = self._node("Mul", [x_scale, w_scale], f"{stem}_scales")
        integers = self._node("MatMulInteger", [x_q, w_q, x_zero, w_zero], f"{stem}_int32")
        self._node("Mul", [self._node("Cast", [integers], f"{stem}_float", to=1), scales], out)

    def _blocks(self, product: Product, stem: str, out: str) -> None:
        bits, block_size, symmetric = self.preset.bits, self.preset.block_size or 32, self.preset.symmetric

        def make():
            packed, scales, zero_points = blockwise(weight_matrix(self.weights, product), bits, block_size, symmetric)
            return [("blocks", packed), ("block_scales", scales)] + (
                [] if zero_points is None else [("block_zero_points", zero_points)]
            )

        stored = self._weight(product.weight, (product.weight, product.transposed, "blocks"), make)
        rows, cols = weight_dims(self.weights, product)
        self._node(
            "MatMulNBits",
            [product.x, *stored],
            out,
            domain="com.microsoft",
            K=rows,
            N=cols,
            bits=bits,
            block_size=block_size,
            accuracy_level=4,
        )

    def gather(self, node) -> None:
        name, ids, out = node.input[0], node.input[1], node.output[0]
        stem = node.name or out
        if self.preset.gather == "per-tensor":

            def make():
                values, scale, zero_point = per_tensor_uint8(np.asarray(self.weights.array(name), np.float32))
                return [
                    ("quantized", values),
                    ("scale", np.array(scale, np.float32)),
                    ("zero_point", np.array(zero_point, np.uint8)),
                ]

            table, scale, zero_point = self._weight(name, (name, "gather"), make)
            gathered = self._node("Gather", [table, ids], f"{stem}_quantized")
            self._node("DequantizeLinear", [gathered, scale, zero_point], out)
            return
        table, scales = self._weight(
            name,
            (name, "gather"),
            lambda: list(zip(("rows", "row_scales"), per_row_int8(np.asarray(self.weights.array(name), np.float32)))),
        )
        rows = self._node("Cast", [self._node("Gather", [table, ids], f"{stem}_quantized")], f"{stem}_levels", to=1)
        self._node("Mul", [rows, self._node("Gather", [scales, ids], f"{stem}_row_scales")], out)


def _per_column(matrix) -> list:
    values, scale = per_column_int8(np.asarray(matrix, np.float32), MATMUL_INTEGER_LARGEST)
    return [("quantized", values), ("scale", scale)]


def _copy(message):
    copy = type(message)()
    copy.CopyFrom(message)
    return copy
