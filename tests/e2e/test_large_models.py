"""Mechanisms for real-size models, on small ones: half-precision checkpoints, --dtype, weights released before the
export is loaded, and the streamed external weights (see test_external_data.py)."""

import json

import numpy as np
import pytest
import torch

from transformers_export import export_model
from transformers_export.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def bf16_checkpoint(tiny_checkpoint, tmp_path_factory):
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("bf16")
    AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama", "causal-lm-with-past")).to(
        torch.bfloat16
    ).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    return folder


def test_bf16_checkpoint_exports_an_fp32_graph_with_its_exact_values(bf16_checkpoint, tmp_path):
    from transformers import AutoModelForCausalLM

    from transformers_export.runtime import OnnxModelForCausalLM

    result = export_model(str(bf16_checkpoint), tmp_path / "out", feature="causal-lm-with-past")
    assert result.validation.passed
    graph = result.manifest["graphs"]["model.onnx"]
    assert (
        graph["inputs"]["past_key_values.0.key"]["dtype"] == "float32"
        and graph["outputs"]["logits"]["dtype"] == "float32"
    )
    model = AutoModelForCausalLM.from_pretrained(bf16_checkpoint, dtype=torch.float32).eval()
    prompt = np.array([[3, 4, 5, 6]])
    with torch.no_grad():
        expected = model.generate(torch.from_numpy(prompt), do_sample=False, max_new_tokens=8).numpy()
    assert (
        OnnxModelForCausalLM.from_pretrained(tmp_path / "out").generate(prompt, max_new_tokens=8).tolist()
        == expected.tolist()
    )


def test_widening_a_memory_mapped_checkpoint_keeps_every_value(bf16_checkpoint):
    from transformers import AutoModelForCausalLM

    from transformers_export.resolve.loading import load_model

    ours = load_model(str(bf16_checkpoint), "causal-lm", dtype="float32")
    reference = AutoModelForCausalLM.from_pretrained(bf16_checkpoint, dtype=torch.float32)
    for (name, value), (_, expected) in zip(ours.state_dict().items(), reference.state_dict().items()):
        assert value.dtype == torch.float32 and torch.equal(value, expected), name


@pytest.mark.parametrize("format", ["torchscript", "exported-program"])
def test_bf16_graph_for_the_torch_formats(bf16_checkpoint, tmp_path, format):
    result = export_model(
        str(bf16_checkpoint), tmp_path / "out", feature="causal-lm-with-past", format=format, dtype="bf16"
    )
    assert result.validation.passed
    graph = next(iter(result.manifest["graphs"].values()))
    assert graph["inputs"]["past_key_values.0.key"]["dtype"] == "bfloat16"


def test_fp16_onnx_graph(tiny_checkpoint, tmp_path):
    result = export_model(
        str(tiny_checkpoint("llama", "causal-lm-with-past")),
        tmp_path / "out",
        feature="causal-lm-with-past",
        dtype="fp16",
    )
    assert result.validation.passed and result.validation.rtol == 1e-2
    graph = result.manifest["graphs"]["model.onnx"]
    assert (
        graph["inputs"]["past_key_values.0.key"]["dtype"] == "float16"
        and graph["outputs"]["logits"]["dtype"] == "float16"
    )


def test_precision_choices_that_cannot_work_are_refused(tiny_checkpoint, tmp_path):
    with pytest.raises(InvalidArgumentError, match="--dtype bf16 applies to --format torchscript or exported-program"):
        export_model(str(tiny_checkpoint("bert")), tmp_path / "x", dtype="bf16")
    with pytest.raises(InvalidArgumentError, match="--quantize starts from an fp32 graph"):
        export_model(str(tiny_checkpoint("bert")), tmp_path / "x", dtype="fp16", quantize="int8")
    with pytest.raises(InvalidArgumentError, match="unknown dtype 'fp8'"):
        export_model(str(tiny_checkpoint("bert")), tmp_path / "x", dtype="fp8")


def test_a_graph_the_runtime_cannot_load_is_a_validation_failure(tiny_checkpoint, tmp_path, monkeypatch):
    from transformers_export.errors import ValidationError
    from transformers_export.formats import onnx as onnx_format

    def refuse(path):
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Load model failed: Type Error")

    monkeypatch.setattr(onnx_format, "open_session", refuse)
    with pytest.raises(ValidationError, match="ONNX Runtime could not load model.onnx: .*Type Error"):
        export_model(str(tiny_checkpoint("bert")), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_model_weights_are_released_before_the_export_is_loaded(tiny_checkpoint, tmp_path, monkeypatch):
    from transformers_export import pipeline
    from transformers_export.formats import get_backend

    backend = get_backend("onnx")
    seen = []
    real_load = type(backend).load

    def load(self, exported):
        seen.append(pipeline_model[0].model.layers[0].mlp.up_proj.weight.numel())
        return real_load(self, exported)

    pipeline_model = []
    real_resolve = pipeline.resolve

    def resolve(request):
        plan = real_resolve(request)
        pipeline_model.append(plan.model)
        return plan

    monkeypatch.setattr(pipeline, "resolve", resolve)
    monkeypatch.setattr(type(backend), "load", load)
    assert export_model(
        str(tiny_checkpoint("llama", "causal-lm-with-past")), tmp_path / "out", feature="causal-lm-with-past"
    ).validation.passed
    assert seen == [0], "the PyTorch weights were still resident when the exported graph was loaded"


def test_a_50m_parameter_decoder_with_external_weights_passes_the_default_tolerance(tmp_path, monkeypatch):
    """Real-size mechanisms on a model big enough for float noise to matter: external weights (the inline limit
    lowered), streamed writes, weights released before validation, and the default tolerance."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from transformers_export.formats.onnx import weights

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=32000,
        hidden_size=512,
        intermediate_size=1376,
        num_hidden_layers=6,
        num_attention_heads=8,
        num_key_value_heads=4,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path / "ckpt")
    monkeypatch.setattr(weights, "INLINE_LIMIT", 64 * 1024**2)
    result = export_model(str(tmp_path / "ckpt"), tmp_path / "out", feature="causal-lm-with-past")
    assert result.validation.passed and result.validation.rtol == 5e-5
    data = tmp_path / "out" / "model.onnx.data"
    parameters = sum(p.numel() for p in LlamaForCausalLM(config).parameters())
    assert parameters > 45_000_000 and data.stat().st_size >= parameters * 4
    assert (tmp_path / "out" / "model.onnx").stat().st_size < 2 * 1024**2, "weights stayed inside the graph"
