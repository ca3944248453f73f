"""`--quantize PRESET`: weights become int8/int4 in place, the graphs are validated again by similarity, failures leave
nothing."""

import json

import numpy as np
import onnx
import pytest

from transformers_export import cli, export_model
from transformers_export.errors import InvalidArgumentError, ValidationError


def _op_types(path):
    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def _op_count(path, op_type):
    return sum(node.op_type == op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def _weight_bytes(path):
    """(bytes of int8 weights, bytes of all weights) of a graph."""
    initializers = onnx.load(str(path)).graph.initializer
    sizes = [(tensor.data_type, onnx.numpy_helper.to_array(tensor).nbytes) for tensor in initializers]
    return sum(n for dtype, n in sizes if dtype == onnx.TensorProto.INT8), sum(n for _, n in sizes)


def test_quantized_encoder_is_smaller_and_validated_by_similarity(tiny_checkpoint, tmp_path, capsys):
    folder = tiny_checkpoint("bert", "sequence-classification")
    plain = export_model(str(folder), tmp_path / "fp32", feature="sequence-classification")
    out = tmp_path / "int8"
    assert cli.main(["-m", str(folder), "--feature", "sequence-classification", "--quantize", "int8", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Validating ONNX model model.onnx (int8)... (inputs batch=3" in printed
    assert "values similar (cosine similarity:" in printed
    # int8 products on smoothed activations with one scale a tensor, int8 blocks for the FFN down-projection (K > N)
    assert {"MatMulInteger", "MatMulNBits", "DynamicQuantizeLinear"} <= _op_types(out / "model.onnx")
    assert any(node.output[0].endswith("_smoothed") for node in onnx.load(str(out / "model.onnx"), load_external_data=False).graph.node)
    assert "MatMulInteger" not in _op_types(plain.output_dir / "model.onnx")
    # attention fused into ONNX Runtime's MultiHeadAttention (one node a layer) only where the graph is ORT's anyway
    assert _op_count(out / "model.onnx", "MultiHeadAttention") == 2 and "Softmax" not in _op_types(out / "model.onnx")
    assert "MultiHeadAttention" not in _op_types(plain.output_dir / "model.onnx")
    int8_bytes, total_bytes = _weight_bytes(out / "model.onnx")
    assert int8_bytes > 0 and total_bytes < 0.6 * _weight_bytes(plain.output_dir / "model.onnx")[1]
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["quantization"] == "int8"
    cosines = [
        output["cosine"] for run in manifest["validation"]["runs"] if run["graph"].endswith("(int8)") for output in run["outputs"].values()
    ]
    assert cosines and min(cosines) >= 0.95


def test_fused_attention_computes_what_the_model_computes_and_is_undone(tiny_checkpoint, tmp_path):
    """The fused graph at fresh shapes with left and right padding against PyTorch (before quantization, where a
    difference would be the fusion's); decoders keep their graphs; the model's attention comes back after capture."""
    import onnxruntime
    import torch

    from transformers_export.formats.onnx.convert import export_onnx
    from transformers_export.formats.onnx.fused_attention import fused_attention
    from transformers_export.features import FeaturesManager
    from transformers_export.resolve.loading import load_model

    model = load_model(str(tiny_checkpoint("bert", "default")), "default").eval()
    onnx_config = FeaturesManager.get_config("bert", "default")(model.config)
    export_onnx(model, onnx_config, 17, tmp_path / "fused.onnx", fuse_attention=True)
    assert model.config._attn_implementation == "sdpa"
    assert _op_count(tmp_path / "fused.onnx", "MultiHeadAttention") == 2
    ids = torch.randint(5, 90, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.int64)
    mask[0, :3], mask[1, 6:] = 0, 0
    session = onnxruntime.InferenceSession(str(tmp_path / "fused.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "token_type_ids": torch.zeros_like(ids).numpy()})[0]
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
    kept = mask.numpy().astype(bool)
    np.testing.assert_allclose(got[kept], expected[kept], atol=1e-4, rtol=1e-4)
    decoder = load_model(str(tiny_checkpoint("gpt2", "causal-lm")), "causal-lm")
    with fused_attention(decoder) as fused:
        assert not fused


def test_quantized_generation_layout_keeps_one_weights_file(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint("t5", "seq2seq-lm")
    result = export_model(str(folder), tmp_path / "out", feature="seq2seq-lm-with-past", quantize="int8")
    assert result.layout == "generation"
    files = {path.name for path in (tmp_path / "out").iterdir()}
    assert {"encoder_model.onnx", "decoder_model.onnx", "model.onnx.data"} <= files
    assert not any(name.endswith(".onnx.data") and name != "model.onnx.data" for name in files)
    steps = [run for run in result.validation.runs if run.graph == "encoder + decoder (int8)"]
    assert len(steps) == 4, "the quantized pair must be decoded again"
    from transformers_export.runtime import OnnxModelForSeq2SeqLM

    tokens = OnnxModelForSeq2SeqLM(tmp_path / "out").generate(np.array([[5, 6, 7, 1]]), np.ones((1, 4)), max_new_tokens=5)
    assert tokens.shape[0] == 1 and tokens.shape[1] <= 6


def test_quantized_decoder_is_decoded_again(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint("gpt2", "causal-lm-with-past")
    result = export_model(str(folder), tmp_path / "out", feature="causal-lm-with-past", quantize="int8")
    quantized = [run for run in result.validation.runs if run.graph.endswith("(int8)")]
    assert [run.sizes.get("step") for run in quantized if "step" in run.sizes] == [0, 1, 2, 3]
    assert all(check.cosine >= 0.95 for run in quantized for check in run.outputs)


def test_a_quantized_graph_below_min_cosine_fails_and_leaves_nothing(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    # int4 blocks of random weights are never that close
    assert cli.main(["-m", str(tiny_checkpoint("bert")), "--quantize", "int4-weight", "--min-cosine", "1", str(out)]) == 3
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "of the quantized graph is too far from PyTorch's: cosine similarity" in error
    assert "< 1 (inputs" in error and "try another --quantize preset" in error
    assert not out.exists()


@pytest.mark.parametrize("preset", ["int8", "int8-dynamic", "int8-weight", "int4-weight"])
def test_every_preset_exports_a_decoder_validated_over_decode_steps(preset, tiny_checkpoint, tmp_path):
    from transformers_export.optimize import PRESETS

    result = export_model(str(tiny_checkpoint("llama", "causal-lm-with-past")), tmp_path / "out", feature="causal-lm-with-past", quantize=preset)
    quantized = [run for run in result.validation.runs if run.graph.endswith(f"({preset})")]
    assert [run.sizes.get("step") for run in quantized if "step" in run.sizes] == [0, 1, 2, 3]
    assert min(check.cosine for run in quantized for check in run.outputs) >= PRESETS[preset].min_cosine
    assert json.loads((tmp_path / "out" / "export.json").read_text())["quantization"] == preset
    ops = _op_types(tmp_path / "out" / "model.onnx")
    expected = {"int8": "MatMulInteger", "int8-dynamic": "DynamicQuantizeLinear", "int8-weight": "MatMulNBits", "int4-weight": "MatMulNBits"}
    assert expected[preset] in ops and "MatMul" in ops  # the attention's own products stay float


@pytest.mark.parametrize("options", [dict(quantize="int4"), dict(quantize="int8", format="torchscript"), dict(min_cosine=0.9), dict(quantize="int8", min_cosine=1.5)])
def test_quantize_option_errors(tiny_checkpoint, tmp_path, options):
    with pytest.raises(InvalidArgumentError, match="quantiz|--min-cosine must be"):
        export_model(str(tiny_checkpoint("bert")), tmp_path / "out", **options)
    assert list(tmp_path.iterdir()) == []


def test_a_graph_the_quantizer_cannot_handle_is_a_one_line_error(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    from transformers_export.optimize import quantize

    def refuse(*args, **kwargs):
        raise ValueError("Unable to find data type for weight_name='x'\nmore detail")

    monkeypatch.setattr(quantize, "quantize_graph", refuse)
    out = tmp_path / "out"
    assert cli.main(["-m", str(tiny_checkpoint("bert")), "--quantize", "int8", str(out)]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        "error: could not quantize model.onnx: Unable to find data type for weight_name='x'; "
        "export without --quantize"
    )
    assert not out.exists()


@pytest.mark.parametrize("model_type,base,feature", [("bert", "default", "default"), ("t5", "seq2seq-lm", "seq2seq-lm-with-past")])
def test_quantized_graphs_above_the_protobuf_limit_keep_external_weights(model_type, base, feature, tiny_checkpoint, tmp_path, monkeypatch):
    """Graphs above the inline limit keep their weights in one external file; simulated with a limit of 0."""
    from transformers_export.formats.onnx import weights

    monkeypatch.setattr(weights, "INLINE_LIMIT", 0)
    result = export_model(str(tiny_checkpoint(model_type, base)), tmp_path / "out", feature=feature, quantize="int8")
    assert result.validation.passed
    files = sorted(path.name for path in (tmp_path / "out").iterdir() if ".onnx" in path.name)
    graphs = [name for name in files if name.endswith(".onnx")]
    assert [name for name in files if name.endswith(".data")] == ["model.onnx.data"], files
    for name in graphs:
        assert _weight_bytes(tmp_path / "out" / name)[0] > 0, f"{name} is not quantized"


def test_streamed_quantization_equals_onnx_runtimes_quantizer(tiny_checkpoint, tmp_path):
    """The streaming rewrite is ONNX Runtime's dynamic per-channel int8 scheme with `reduce_range` (7-bit weights,
    exact on CPUs without VNNI): same outputs, bit for bit."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from transformers_export.optimize import PRESETS, quantize_graph

    export_model(str(tiny_checkpoint("bert")), tmp_path / "fp32")
    source = tmp_path / "fp32" / "model.onnx"
    quantize_dynamic(source, tmp_path / "ort.onnx", per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    quantize_graph(source, tmp_path / "ours.onnx", PRESETS["int8-dynamic"])
    rng = np.random.default_rng(0)
    feed = {"input_ids": rng.integers(0, 99, (3, 9)), "attention_mask": np.ones((3, 9), np.int64), "token_type_ids": np.zeros((3, 9), np.int64)}
    expected = onnxruntime.InferenceSession(str(tmp_path / "ort.onnx")).run(None, feed)
    got = onnxruntime.InferenceSession(str(tmp_path / "ours.onnx")).run(None, feed)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
