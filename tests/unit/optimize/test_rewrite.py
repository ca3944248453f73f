"""The preset schemes on single products, against numpy: the stored layouts are what ONNX Runtime's kernels read,
SmoothQuant keeps the float function, and calibration reads text, not the validation's inputs."""

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from transformers_export.optimize import PRESETS, Preset, numerics, quantize_graph
from transformers_export.optimize.calibrate import channel_absmax


def _product_graph(path, weight, opset=17):
    """y = MatMul(x, W) with W a constant (K, N)."""
    k, n = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="product")],
        "product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", n])],
        [numpy_helper.from_array(weight.astype(np.float32), "W")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))


def _run(path, x):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _unpack(packed, bits, count):
    if bits == 4:
        packed = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(*packed.shape[:-1], -1)
    return packed[..., :count].astype(np.float32)


def _dequantized_blocks(packed, scale, zero_points, bits, k):
    zero = 2 ** (bits - 1) if zero_points is None else _unpack(zero_points, bits, scale.shape[1])[..., None]
    levels = _unpack(packed, bits, packed.shape[-1] * 8 // bits) - zero
    columns = (levels * scale[..., None]).reshape(scale.shape[0], -1)[:, :k]
    return columns.T


@pytest.mark.parametrize("bits,block_size,k,symmetric", [(4, 32, 80, True), (8, 128, 96, True), (4, 16, 64, True), (4, 32, 80, False), (8, 32, 96, False)])
def test_block_layout_is_what_matmulnbits_reads(bits, block_size, k, symmetric, tmp_path):
    """ONNX Runtime's kernel, fed our blocks (and zero points), computes x @ dequantized(W); a wrong nibble order or
    block axis would not."""
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(k, 24)).astype(np.float32) + (0 if symmetric else 0.5)
    packed, scale, zero_points = numerics.blockwise(weight, bits, block_size, symmetric)
    assert packed.shape == (24, -(-k // block_size), block_size * bits // 8)
    assert (zero_points is None) == symmetric
    dequantized = _dequantized_blocks(packed, scale, zero_points, bits, k)
    assert np.abs(dequantized - weight).max() <= scale.max() / 2 + 1e-6  # round to nearest
    _product_graph(tmp_path / "float.onnx", weight)
    preset = Preset("t", matmul="blocks", gather="float", bits=bits, block_size=block_size, symmetric=symmetric)
    quantize_graph(tmp_path / "float.onnx", tmp_path / "q.onnx", preset)
    x = rng.normal(size=(2, 5, k)).astype(np.float32)
    got, expected = _run(tmp_path / "q.onnx", x), x @ dequantized
    # the kernel also quantizes x to int8 per block (accuracy_level 4): about 1/127 of each block's largest value
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()
    assert np.abs(got - expected).max() < np.abs(x @ weight - expected).max() or bits == 8


def test_smoothing_moves_outlier_channels_into_the_weights(tmp_path):
    """With an outlier channel, SmoothQuant's factors bring the other channels back; the float function is kept."""
    rng = np.random.default_rng(2)
    weight = rng.normal(size=(64, 8)).astype(np.float32)
    _product_graph(tmp_path / "float.onnx", weight)
    x = rng.normal(size=(1, 6, 64)).astype(np.float32)
    x[..., 3] *= 300  # one channel, every token: its range sets the one activation scale
    ranges = channel_absmax(tmp_path / "float.onnx", ["x"], [{"x": x}])
    np.testing.assert_allclose(ranges["x"], np.abs(x).reshape(-1, 64).max(0))
    errors = {}
    for alpha in (0.0, 0.5):
        quantize_graph(tmp_path / "float.onnx", tmp_path / "q.onnx", Preset("t", matmul="per-tensor", gather="float", smoothing=alpha), [{"x": x}])
        errors[alpha] = np.abs(_run(tmp_path / "q.onnx", x) - x @ weight).max()
    assert errors[0.5] < errors[0.0] / 3
    factors = numerics.smoothing_factors(ranges["x"], np.abs(weight).max(1), 0.5)
    np.testing.assert_allclose((x / factors) @ (weight * factors[:, None]), x @ weight, rtol=1e-4, atol=1e-3)


def test_per_row_embedding_rows_keep_their_own_scale():
    rng = np.random.default_rng(3)
    table = rng.normal(size=(10, 8)).astype(np.float32)
    table[4] *= 1000
    values, scales = numerics.per_row_int8(table)
    assert values.dtype == np.int8 and scales.shape == (10, 1)
    error = np.abs(values * scales - table)
    assert (error <= scales / 2 + 1e-6).all()  # each row to its own rounding
    assert error[:4].max() < np.abs(table[:4]).max() / 100  # the large row does not coarsen the others


def test_calibration_reads_the_shipped_text_through_the_tokenizer(tiny_checkpoint):
    from transformers import AutoModel, AutoTokenizer

    from transformers_export.validation.cases import calibration_feeds
    from transformers_export.features import FeaturesManager
    from transformers_export.optimize.presets import calibration_texts

    folder = tiny_checkpoint("bert")
    texts = calibration_texts()
    assert len(texts) >= 32 and all(len(text.split()) >= 8 for text in texts)
    model, tokenizer = AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    config = FeaturesManager.get_config("bert", "default")(model.config)
    feeds = calibration_feeds(config, model, tokenizer, texts[:3])
    assert [feed["input_ids"].tolist() for feed in feeds] == [[tokenizer(text)["input_ids"][:64]] for text in texts[:3]]
    assert all(feed["attention_mask"].all() for feed in feeds)


@pytest.mark.parametrize("preset", ["int8", "int8-dynamic", "int8-weight"])
def test_gemm_and_a_head_through_a_transposed_table_are_quantized(preset, tmp_path):
    """GPT-2's Conv1D exports as Gemm (with a bias, optionally transB); a tied LM head reads the embedding table through
    a Transpose. Both become quantized products; the float table and the Transpose go."""
    rng = np.random.default_rng(4)
    table = rng.normal(size=(50, 16)).astype(np.float32)  # (vocab, hidden)
    weight, bias = rng.normal(size=(16, 8)).astype(np.float32), rng.normal(size=16).astype(np.float32)  # transB: (N, K)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "W", "b"], ["h"], transB=1),
            helper.make_node("Transpose", ["E"], ["E_t"], perm=[1, 0]),
            helper.make_node("MatMul", ["h", "E_t"], ["logits"]),
        ],
        "head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["tokens", 50])],
        [numpy_helper.from_array(table, "E"), numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "float.onnx"))
    x = rng.normal(size=(5, 8)).astype(np.float32)
    quantize_graph(tmp_path / "float.onnx", tmp_path / "q.onnx", PRESETS[preset], [{"x": x}])
    quantized = onnx.load(str(tmp_path / "q.onnx"))
    assert {node.op_type for node in quantized.graph.node}.isdisjoint({"Gemm", "Transpose", "MatMul"})
    assert {t.name for t in quantized.graph.initializer}.isdisjoint({"E", "W"})
    expected = (x @ weight.T + bias) @ table.T
    got = _run(tmp_path / "q.onnx", x)
    cosine = (got * expected).sum() / np.linalg.norm(got) / np.linalg.norm(expected)
    assert cosine > 0.999


@pytest.mark.parametrize("preset", ["int8", "int8-dynamic"])
def test_integer_products_keep_weights_where_16_bit_pair_sums_cannot_saturate(preset, tmp_path):
    """MatMulInteger's AVX2 kernel (no VNNI) adds pairs of uint8 x int8 products in 16 bits: weights stay within
    +-64, so 2 * 255 * 64 fits and the graph gives the same result on every x86 CPU, not only on the exporting one."""
    rng = np.random.default_rng(7)
    weight = rng.normal(size=(24, 32)) * np.linspace(0.1, 5, 32)  # K < N (the int8 preset's per-tensor products)
    _product_graph(tmp_path / "float.onnx", weight)
    quantize_graph(tmp_path / "float.onnx", tmp_path / "q.onnx", PRESETS[preset])
    model = onnx.load(str(tmp_path / "q.onnx"))
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    integer_weights = [initializers[node.input[1]] for node in model.graph.node if node.op_type == "MatMulInteger"]
    assert integer_weights, "the product was not quantized to MatMulInteger"
    for levels in integer_weights:
        assert levels.dtype == np.int8
        assert np.abs(levels.astype(np.int32)).max() <= 32767 // (2 * 255)  # the 16-bit pair sum bound
