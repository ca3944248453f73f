"""What users of Optimum's ORTModel classes expect of ours: save_pretrained, forward with a cache, generate()'s dict
output with scores, from_pretrained(checkpoint, export=True), and a missing folder told as one."""

import numpy as np
import pytest
import torch

from transformers_export import export_model
from transformers_export.errors import CheckpointError
from transformers_export.runtime import (
    OnnxModelForCausalLM,
    OnnxModelForSeq2SeqLM,
    OnnxModelForSequenceClassification,
    from_pretrained,
)

PROMPT = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])


@pytest.fixture(scope="module")
def gpt2(tiny_checkpoint, tmp_path_factory):
    from transformers import AutoModelForCausalLM

    checkpoint = tiny_checkpoint("gpt2", "causal-lm")
    out = tmp_path_factory.mktemp("gpt2") / "onnx"
    export_model(str(checkpoint), out, feature="causal-lm-with-past")
    return AutoModelForCausalLM.from_pretrained(checkpoint).eval(), OnnxModelForCausalLM.from_pretrained(out)


def test_save_pretrained_writes_a_folder_that_opens_and_keeps_what_was_there(tiny_checkpoint, tmp_path):
    export_model(
        str(tiny_checkpoint("bert", "sequence-classification")), tmp_path / "a", feature="sequence-classification"
    )
    model = OnnxModelForSequenceClassification.from_pretrained(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    model.save_pretrained(tmp_path / "b")
    again = OnnxModelForSequenceClassification.from_pretrained(tmp_path / "b")
    ids = np.array([[2, 5, 7, 3]])
    np.testing.assert_array_equal(model(input_ids=ids).logits, again(input_ids=ids).logits)
    assert (tmp_path / "b" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted([*again.manifest.data["files"], "notes.txt"])


def test_forward_with_a_cache_returns_the_past_and_continues_from_it(gpt2):
    torch_model, onnx_model = gpt2
    with torch.no_grad():
        expected = torch_model(PROMPT, use_cache=True)
        past_shape = expected.past_key_values.layers[0].keys.shape
        expected_next = torch_model(PROMPT[:, -1:] + 1, past_key_values=expected.past_key_values)  # grows it in place
    first = onnx_model(PROMPT, use_cache=True)
    torch.testing.assert_close(first.logits, expected.logits, atol=1e-4, rtol=1e-4)
    assert len(first.past_key_values) == torch_model.config.n_layer
    assert first.past_key_values[0][0].shape == past_shape and past_shape[2] == PROMPT.shape[1]
    following = onnx_model(PROMPT[:, -1:] + 1, past_key_values=first.past_key_values)
    torch.testing.assert_close(following.logits, expected_next.logits, atol=1e-4, rtol=1e-4)
    assert onnx_model(PROMPT, use_cache=False).past_key_values is None


def test_generate_returns_transformers_dict_with_scores_and_logits(gpt2):
    from transformers.generation.utils import GenerateDecoderOnlyOutput

    torch_model, onnx_model = gpt2
    arguments = dict(max_new_tokens=5, return_dict_in_generate=True, output_scores=True, output_logits=True)
    with torch.no_grad():
        expected = torch_model.generate(PROMPT, repetition_penalty=1.5, **arguments)
    got = onnx_model.generate(PROMPT, repetition_penalty=1.5, **arguments)
    assert isinstance(got, GenerateDecoderOnlyOutput)
    assert got.sequences.tolist() == expected.sequences.tolist()
    assert len(got.scores) == len(expected.scores) == len(got.logits) == 5
    for ours, theirs in [*zip(got.scores, expected.scores), *zip(got.logits, expected.logits)]:
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    assert not torch.equal(got.scores[1], got.logits[1]), "the penalty changes the scores, not the logits"
    with pytest.raises(ValueError, match="greedy search and sampling; pass num_beams=1"):
        onnx_model.generate(PROMPT, num_beams=2, **arguments)


def test_generate_dict_of_an_encoder_decoder(tiny_checkpoint, tmp_path):
    from transformers.generation.utils import GenerateEncoderDecoderOutput

    export_model(str(tiny_checkpoint("t5", "seq2seq-lm")), tmp_path / "t5", feature="seq2seq-lm-with-past")
    got = OnnxModelForSeq2SeqLM.from_pretrained(tmp_path / "t5").generate(
        PROMPT, max_new_tokens=3, return_dict_in_generate=True, output_scores=True
    )
    assert isinstance(got, GenerateEncoderDecoderOutput) and len(got.scores) == 3 and got.logits is None


def test_a_model_without_a_cache_says_so_when_one_is_asked_for(tiny_checkpoint, tmp_path):
    export_model(str(tiny_checkpoint("gpt2", "causal-lm")), tmp_path / "plain", feature="causal-lm")
    with pytest.raises(ValueError, match="exported without a cache .* export causal-lm-with-past"):
        from_pretrained(tmp_path / "plain")(PROMPT, use_cache=True)


def test_from_pretrained_exports_a_checkpoint_once_into_the_cache(tiny_checkpoint, tmp_path):
    checkpoint = tiny_checkpoint("gpt2", "causal-lm")
    model = OnnxModelForCausalLM.from_pretrained(checkpoint, export=True, cache_dir=tmp_path / "cache")
    assert model.manifest.feature == "causal-lm-with-past"
    (folder,) = (tmp_path / "cache").iterdir()
    written = (folder / "export.json").stat().st_mtime_ns
    again = OnnxModelForCausalLM.from_pretrained(checkpoint, export=True, cache_dir=tmp_path / "cache")
    assert again.folder == folder and (folder / "export.json").stat().st_mtime_ns == written, "reused, not redone"
    assert model.generate(PROMPT, max_new_tokens=4).tolist() == again.generate(PROMPT, max_new_tokens=4).tolist()
    with pytest.raises(TypeError, match="cache_dir .*go with export=True"):
        OnnxModelForCausalLM.from_pretrained(folder, cache_dir=tmp_path)


def test_a_missing_folder_is_told_apart_from_a_folder_that_is_not_an_export(tmp_path):
    with pytest.raises(CheckpointError, match="no such folder: '.*nowhere'"):
        OnnxModelForSequenceClassification.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="not a folder written by transformers-export"):
        OnnxModelForSequenceClassification.from_pretrained(tmp_path)
