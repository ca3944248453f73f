"""Caches with recurrent state (state-space and linear-attention layers): exported as `past_key_values.{i}.conv` /
`.recurrent` graph tensors beside the attention layers' keys and values, in a graph that takes one token per call.
The runtime feeds a prompt one token at a time; its greedy and beam tokens equal `generate()`'s."""

import json

import numpy as np
import pytest
import torch

from transformers_export.cache import names as cache, objects as cache_objects
from transformers_export import export_model
from transformers_export.coverage.sweep import tiny_config
from transformers_export.coverage.shrink import kept_layers

# Mamba: recurrent state only (no attention layer reads a mask). Qwen3-Next: gated delta-rule layers and attention
# layers. Nemotron-H: Mamba-2 and attention layers, and MLP-only layers that keep nothing. Falcon-H1: every layer
# both (attention and Mamba-2 side by side).
MODELS = ["mamba", "qwen3_next", "nemotron_h", "falcon_h1"]

# the first row left-padded, as generate() batches prompts of different lengths
PROMPT = {"input_ids": torch.tensor([[0, 0, 7, 8, 9], [10, 11, 12, 13, 14]]),
          "attention_mask": torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])}


def _export(model_type, folder):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config(model_type)).eval()
    model.save_pretrained(folder / "checkpoint")
    export_model(str(folder / "checkpoint"), folder / "onnx", feature="auto")
    return model, json.loads((folder / "onnx" / "export.json").read_text())


@pytest.mark.parametrize("model_type", MODELS)
def test_recurrent_state_models_generate_like_pytorch(model_type, tmp_path):
    from transformers_export.runtime import OnnxModelForCausalLM

    model, manifest = _export(model_type, tmp_path)
    assert manifest["feature"] == "causal-lm-with-past" and manifest["validation"]["passed"]
    onnx_model = OnnxModelForCausalLM.from_pretrained(tmp_path / "onnx")
    with torch.no_grad():
        expected = model.generate(**PROMPT, do_sample=False, max_new_tokens=8, min_new_tokens=8)
    assert onnx_model.generate(**PROMPT, max_new_tokens=8, min_new_tokens=8).tolist() == expected.tolist()
    if model_type == "qwen3_next":  # beams reorder the recurrent states with the keys and values
        with torch.no_grad():
            expected = model.generate(**PROMPT, do_sample=False, num_beams=2, max_new_tokens=6, min_new_tokens=6)
        got = onnx_model.generate(**PROMPT, num_beams=2, max_new_tokens=6, min_new_tokens=6)
        assert got.tolist() == expected.tolist()


def test_the_graph_takes_one_token_and_fixed_size_states(tmp_path):
    import onnx

    _, manifest = _export("nemotron_h", tmp_path)
    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx"), load_external_data=False).graph
    shapes = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert shapes["input_ids"] == ["batch", 1]
    assert shapes["attention_mask"] == ["batch", "past_sequence + 1"]
    past = [name for name in shapes if cache.is_past(name)]
    layer_kinds = {cache.parse_name(name).layer: set() for name in past}
    for name in past:
        layer_kinds[cache.parse_name(name).layer].add(cache.parse_name(name).kind)
    # Mamba-2 layers keep a conv and a recurrent state; the attention layer keys and values; MLP layers nothing
    assert {"conv", "recurrent"} in layer_kinds.values() and {"key", "value"} in layer_kinds.values()
    assert len(layer_kinds) < tiny_config("nemotron_h").num_hidden_layers
    for name in past:
        if cache.is_state(name):
            assert shapes[name][0] == "batch" and all(isinstance(size, int) for size in shapes[name][1:])
    outputs = {o.name for o in graph.output}
    assert {name.replace(cache.PAST, cache.PRESENT, 1) for name in past} <= outputs


def test_padding_tokens_leave_the_recurrent_state_as_it_was():
    """A step whose token is padding returns the state it was given for that row, and the new one for the others."""
    states = {"past_key_values.0.conv": torch.zeros(2, 3, 4), "past_key_values.0.recurrent": torch.ones(2, 3, 5)}
    stepped = cache_objects.cache_from_named(states, step_rows=torch.tensor([0, 1]))
    layer = stepped.layers[0]
    assert stepped.has_previous_state(0)
    layer.conv_states[0].add_(7)  # as a model's in-place recurrent update does
    layer.recurrent_states[0].copy_(torch.full((2, 3, 5), 3.0))
    parts = cache.flatten(cache.PRESENT, cache_objects.layer_tensors(stepped))
    assert parts["present.0.conv"][0].eq(0).all() and parts["present.0.conv"][1].eq(7).all()
    assert parts["present.0.recurrent"][0].eq(1).all() and parts["present.0.recurrent"][1].eq(3).all()
    assert states["past_key_values.0.conv"].eq(0).all(), "the step's inputs are not changed in place"


def test_runtime_refuses_a_state_of_the_wrong_shape(tmp_path):
    from transformers_export.runtime import OnnxDecoder

    _export("mamba", tmp_path)
    decoder = OnnxDecoder(tmp_path / "onnx" / "model.onnx")
    assert decoder.one_token_steps
    past = decoder.empty_past(2)
    name = next(n for n in past if cache.is_state(n))
    assert past[name].shape[1:] == decoder.past_dims[name] and not past[name].any()
    past[name] = np.zeros((2, 1, 1), np.float32)
    with pytest.raises(ValueError, match=f"{name} has shape"):
        decoder.step(np.array([[5], [6]]), np.ones((2, 1)), past)


def test_hybrid_models_keep_a_layer_of_each_kind_when_shrunk():
    assert kept_layers({"layer_types": ["linear_attention"] * 3 + ["full_attention"]}) == 4
    assert kept_layers({"block_types": ["recurrent", "recurrent", "attention"]}) == 3
    assert kept_layers({"attn_layer_period": 8, "attn_layer_offset": 4}) == 5
    assert kept_layers({"layer_types": ["full_attention"] * 40}) == 2
    assert kept_layers({"layer_types": ["linear_attention"] * 20 + ["full_attention"]}) == 2  # beyond the cap: two


def test_state_kept_outside_the_cache_is_refused_with_the_reason(tmp_path):
    """RecurrentGemma's temporal blocks keep their states as module attributes: a graph would freeze them."""
    from transformers import AutoModelForCausalLM

    from transformers_export.errors import UnsupportedFeatureError

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny_config("recurrent_gemma")).save_pretrained(tmp_path / "checkpoint")
    with pytest.raises(UnsupportedFeatureError, match="returns no cache with its state"):
        export_model(str(tmp_path / "checkpoint"), tmp_path / "onnx", feature="causal-lm-with-past")
    assert not (tmp_path / "onnx").exists()
