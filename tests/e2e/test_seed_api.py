"""The seed document's code examples, with local folders in place of hub names."""

from collections import OrderedDict
from pathlib import Path
from typing import Mapping

import onnx
import pytest
from transformers import AutoModel, AutoTokenizer, DistilBertConfig

from transformers_export import OnnxConfig, PatchingSpec, ValidationError, export, validate_model_outputs
from transformers_export.config import compute_effective_axis_dimension
from transformers_export.features import FeaturesManager


def test_features_manager_lists_distilbert_features():
    features = list(FeaturesManager.get_supported_features_for_model_type("distilbert").keys())
    # The seed's printout lists causal-lm; the real package never had it for DistilBERT (no causal head exists).
    assert features == [
        "default",
        "masked-lm",
        "sequence-classification",
        "multiple-choice",
        "token-classification",
        "question-answering",
    ]


def test_model_type_spelling_with_underscore_or_hyphen():
    assert FeaturesManager.get_supported_features_for_model_type("big_bird").keys() == (
        FeaturesManager.get_supported_features_for_model_type("big-bird").keys()
    )


def test_ready_made_config_outputs():
    from transformers_export.models.distilbert import DistilBertOnnxConfig

    config = DistilBertConfig()
    assert list(DistilBertOnnxConfig(config).outputs.keys()) == ["last_hidden_state"]
    assert DistilBertOnnxConfig(config).outputs == OrderedDict([("last_hidden_state", {0: "batch", 1: "sequence"})])
    assert DistilBertOnnxConfig(config, task="sequence-classification").outputs == OrderedDict([("logits", {0: "batch"})])
    assert DistilBertOnnxConfig(config).default_onnx_opset >= 14


def test_unknown_task_is_a_value_error():
    from transformers_export.models.bert import BertOnnxConfig
    from transformers import BertConfig

    with pytest.raises(ValueError, match="not a supported task"):
        BertOnnxConfig(BertConfig(), task="translate-everything")


class DistilBertOnnxConfig(OnnxConfig):
    """Written exactly as the seed's walk-through does."""

    @property
    def inputs(self) -> Mapping[str, Mapping[int, str]]:
        return OrderedDict(
            [
                ("input_ids", {0: "batch", 1: "sequence"}),
                ("attention_mask", {0: "batch", 1: "sequence"}),
            ]
        )


def test_custom_config_export_and_validate(tiny_checkpoint, minilm_path, tmp_path):
    folder = tiny_checkpoint("distilbert", "default")  # a local checkpoint written by save_pretrained
    base_model = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    onnx_config = DistilBertOnnxConfig(base_model.config)
    onnx_path = Path(tmp_path / "model.onnx")

    onnx_inputs, onnx_outputs = export(tokenizer, base_model, onnx_config, onnx_config.default_onnx_opset, onnx_path)

    assert onnx_inputs == ["input_ids", "attention_mask"]
    assert onnx_outputs == ["last_hidden_state"]
    onnx.checker.check_model(onnx.load(str(onnx_path)))
    report = validate_model_outputs(
        onnx_config, tokenizer, base_model, onnx_path, onnx_outputs, onnx_config.atol_for_validation
    )
    assert report.passed and {run.sizes["batch"] for run in report.runs} == {3, 1}


def test_validation_fails_on_a_wrong_graph(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint("bert", "default")
    model = AutoModel.from_pretrained(folder)
    onnx_config = FeaturesManager.get_config("bert", "default")(model.config)
    onnx_path = tmp_path / "model.onnx"
    _, outputs = export(None, model, onnx_config, onnx_config.default_onnx_opset, onnx_path)
    proto = onnx.load(str(onnx_path))
    for initializer in proto.graph.initializer:  # perturb every float weight
        if initializer.data_type == onnx.TensorProto.FLOAT and initializer.raw_data:
            array = onnx.numpy_helper.to_array(initializer) * 1.01
            initializer.CopyFrom(onnx.numpy_helper.from_array(array, initializer.name))
    onnx.save(proto, str(onnx_path))
    with pytest.raises(ValidationError, match=r"output 'last_hidden_state' of the ONNX model differs from PyTorch: max abs diff .* > atol 1e-05"):
        validate_model_outputs(onnx_config, None, model, onnx_path, outputs, onnx_config.atol_for_validation)


def test_patching_spec_applied_during_export_and_restored_on_failure(tiny_checkpoint, tmp_path):
    model = AutoModel.from_pretrained(tiny_checkpoint("bert", "default"))

    def exploding_forward(*args, **kwargs):
        raise RuntimeError("boom")

    original = model.embeddings.forward
    spec = PatchingSpec(model.embeddings, "forward", exploding_forward)
    from transformers_export.models.bert import BertOnnxConfig

    onnx_config = BertOnnxConfig(model.config, patching_specs=[spec])
    with pytest.raises(Exception, match="boom"):
        export(None, model, onnx_config, 17, tmp_path / "model.onnx")
    assert model.embeddings.forward == original  # the seed left it patched after a failure; we restore it
    assert not (tmp_path / "model.onnx").exists()


def test_values_override_is_reverted(tiny_checkpoint, tmp_path):
    model = AutoModel.from_pretrained(tiny_checkpoint("bert", "default"))
    model.config.use_cache = True
    onnx_config = FeaturesManager.get_config("bert", "default")(model.config)
    assert onnx_config.values_override == {"use_cache": False}
    export(None, model, onnx_config, 17, tmp_path / "model.onnx")
    assert model.config.use_cache is True


@pytest.mark.parametrize("dimension,fixed,tokens,expected", [(-1, 2, 0, 2), (0, 2, 0, 2), (0, 8, 2, 6), (0, 8, 3, 5)])
def test_compute_effective_axis_dimension(dimension, fixed, tokens, expected):
    assert compute_effective_axis_dimension(dimension, fixed, tokens) == expected


@pytest.mark.parametrize(
    "parameters,expected", [(0, False), (1, False), ((2**31 - 1) // 4, False), (2**31, True), ((2**31 + 1) // 4, True)]
)
def test_use_external_data_format(parameters, expected):
    assert OnnxConfig.use_external_data_format(parameters) is expected


def test_flatten_output_collection_property():
    assert OnnxConfig.flatten_output_collection_property("past_key", [[0], [1], [2]]) == {
        "past_key.0": 0,
        "past_key.1": 1,
        "past_key.2": 2,
    }


def test_dummy_input_sizes_follow_subclass_overrides():
    class LongerConfig(DistilBertOnnxConfig):
        default_fixed_sequence = 16  # legacy bug #16885: the seed ignored subclass overrides

    inputs = LongerConfig(DistilBertConfig(vocab_size=50)).generate_dummy_inputs(None)
    assert tuple(inputs["input_ids"].shape) == (2, 16)
    assert inputs["attention_mask"][-1].tolist().count(0) > 0, "the dummy mask must be padded"


def test_onnx_config_with_past_seed_api(tiny_checkpoint):
    from transformers import AutoModelForCausalLM

    from transformers_export.models.gpt2 import GPT2OnnxConfig

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("gpt2", "causal-lm"))
    plain = GPT2OnnxConfig(model.config, task="causal-lm")
    with_past = GPT2OnnxConfig.with_past(model.config, task="causal-lm")
    assert not plain.use_past and with_past.use_past
    assert plain.values_override == {"use_cache": False} and with_past.values_override == {"use_cache": True}
    assert with_past.num_layers == 2 and with_past.num_attention_heads == 4
    assert list(plain.outputs) == ["logits"]
    assert list(with_past.outputs)[:3] == ["logits", "present.0.key", "present.0.value"]
    assert with_past.outputs["present.1.value"] == {0: "batch", 2: "past_sequence + sequence"}
    assert with_past.inputs["past_key_values.0.key"] == {0: "batch", 2: "past_sequence"}
    assert with_past.inputs["attention_mask"] == {0: "batch", 1: "past_sequence + sequence"}
    with pytest.raises(ValueError, match='direction must either be "inputs" or "outputs"'):
        with_past.fill_with_past_key_values_({}, direction="sideways")
    flat = with_past.flatten_output_collection_property("present", [("k0", "v0"), ("k1", "v1")])
    assert flat == {"present.0.key": "k0", "present.0.value": "v0", "present.1.key": "k1", "present.1.value": "v1"}


def test_cache_shapes_come_from_a_forward_pass(tiny_checkpoint):
    """Grouped-query attention: 4 heads but 2 KV heads; config arithmetic on heads would get the cache wrong."""
    from transformers import AutoModelForCausalLM

    from transformers_export.models.llama import LlamaOnnxConfig

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama", "causal-lm"))
    onnx_config = LlamaOnnxConfig.with_past(model.config, task="causal-lm")
    onnx_config.bind_model(model)
    inputs = onnx_config.generate_dummy_inputs(None, batch_size=3, seq_length=4, past_length=6)
    assert tuple(inputs["past_key_values.0.key"].shape) == (3, 2, 6, 8)
    assert tuple(inputs["attention_mask"].shape) == (3, 10)
    # the last row is left-padded by 2 of its 10 positions; positions skip the padding, as generate() does
    assert inputs["attention_mask"][-1].tolist() == [0, 0] + [1] * 8
    assert inputs["position_ids"].tolist() == [[6, 7, 8, 9], [6, 7, 8, 9], [4, 5, 6, 7]]


def test_seq2seq_config_with_past_seed_api(tiny_checkpoint):
    """The seed's OnnxSeq2SeqConfigWithPast: decoder and encoder halves of the cache, in that order, per layer."""
    from transformers import AutoModelForSeq2SeqLM

    from transformers_export.models.bart import BartOnnxConfig

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_checkpoint("bart", "seq2seq-lm"))
    onnx_config = BartOnnxConfig.with_past(model.config, task="seq2seq-lm")
    assert onnx_config.num_layers == (2, 2) and onnx_config.num_attention_heads == (4, 4)
    names = list(onnx_config.inputs)
    assert names[:4] == ["input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask"]
    assert names[4:8] == [f"past_key_values.0.{side}.{kind}" for side in ("decoder", "encoder") for kind in ("key", "value")]
    assert onnx_config.inputs["decoder_attention_mask"] == {0: "batch", 1: "past_decoder_sequence + decoder_sequence"}
    assert onnx_config.outputs["present.1.encoder.value"] == {0: "batch", 2: "encoder_sequence"}
    onnx_config.bind_model(model)
    inputs = onnx_config.generate_dummy_inputs(None, batch_size=3, seq_length=6, past_length=4, decoder_length=1)
    assert tuple(inputs["past_key_values.1.decoder.key"].shape) == (3, 4, 4, 8)
    assert tuple(inputs["past_key_values.1.encoder.key"].shape) == (3, 4, 6, 8)
    assert tuple(inputs["decoder_attention_mask"].shape) == (3, 5)


def test_causal_lm_head_of_a_seq2seq_type_gets_the_decoder_config(tiny_checkpoint):
    """The seed's BartOnnxConfig exported BartForCausalLM too; asking it for causal-lm gives decoder inputs."""
    from transformers import AutoModelForCausalLM

    from transformers_export.models.bart import BartForCausalLMOnnxConfig, BartOnnxConfig

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("bart", "causal-lm"))
    onnx_config = BartOnnxConfig.with_past(model.config, task="causal-lm")
    # a decoder config without a class swap: the seq2seq config with the causal-lm task has no encoder side
    assert not onnx_config.is_seq2seq_graph and onnx_config.use_past
    assert list(onnx_config.inputs)[:3] == ["input_ids", "attention_mask", "past_key_values.0.key"]
    assert list(onnx_config.outputs)[:2] == ["logits", "present.0.key"]
    assert type(BartOnnxConfig(model.config, task="seq2seq-lm")) is BartOnnxConfig
    assert type(FeaturesManager.get_config("bart", "causal-lm")(model.config)) is BartForCausalLMOnnxConfig
