"""The ONNX Runtime greedy loop applies the generation config's rules as generate() does, and says which it cannot."""

import shutil

import numpy as np
import pytest
import torch

from transformers_export import export_model

CASES = [("gpt2", "causal-lm", "causal-lm-with-past"), ("t5", "seq2seq-lm", "seq2seq-lm-with-past")]


def _inputs(model):
    pad = model.config.pad_token_id
    if model.config.is_encoder_decoder:
        ids = np.array([[5, 6, 7, 8, 9, pad], [9, 10, 11, 12, 13, 14]])
        return ids, (ids != pad).astype(np.int64)
    ids = np.array([[pad, pad, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    return ids, (ids != pad).astype(np.int64)


def _torch_generate(model, ids, mask):
    with torch.no_grad():
        return model.generate(
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), do_sample=False, max_new_tokens=20,
        ).numpy()


def _editable_checkpoint(model_type, base, tiny_checkpoint, tmp_path):
    """A copy of the tiny checkpoint (its generation config gets edited), the model, inputs, the plain greedy tokens
    and where the generated ones start."""
    import transformers

    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint(model_type, base), folder)
    auto = transformers.AutoModelForSeq2SeqLM if base == "seq2seq-lm" else transformers.AutoModelForCausalLM
    model = auto.from_pretrained(folder).eval()
    ids, mask = _inputs(model)
    plain = _torch_generate(model, ids, mask)
    start = 1 if model.config.is_encoder_decoder else ids.shape[1]
    return folder, model, ids, mask, plain, start


def _exported_runtime(folder, model, feature, tmp_path):
    from transformers_export.runtime import OnnxModelForCausalLM, OnnxModelForSeq2SeqLM

    export_model(str(folder), tmp_path / "onnx", feature=feature)
    return (OnnxModelForSeq2SeqLM if model.config.is_encoder_decoder else OnnxModelForCausalLM)(tmp_path / "onnx")


@pytest.mark.parametrize("model_type,base,feature", CASES, ids=[case[0] for case in CASES])
def test_repetition_ngram_and_minimum_length_rules_match_generate(model_type, base, feature, tiny_checkpoint, tmp_path):
    folder, model, ids, mask, plain, start = _editable_checkpoint(model_type, base, tiny_checkpoint, tmp_path)
    rules = model.generation_config
    # an end token that plain greedy emits early, so that min_new_tokens has something to hold back
    rules.eos_token_id = int(plain[0, start + 2])
    rules.min_new_tokens, rules.repetition_penalty, rules.no_repeat_ngram_size = 6, 1.3, 2
    rules.save_pretrained(folder)
    expected = _torch_generate(model, ids, mask)
    assert expected.tolist() != plain.tolist(), "the rules must change the greedy tokens, or this test proves nothing"
    runtime = _exported_runtime(folder, model, feature, tmp_path)
    got = runtime.generate(ids, mask, max_new_tokens=20)
    assert got.tolist() == expected.tolist()


def test_rules_the_runtime_does_not_apply_are_named_in_a_warning(tiny_checkpoint, tmp_path):
    from transformers_export.runtime.arguments import folder_generation_config, settings_from, warn_about_unapplied

    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint("t5", "seq2seq-lm"), folder)
    (folder / "generation_config.json").write_text('{"num_beams": 4, "no_repeat_ngram_size": 3, "typical_p": 0.9}')
    config = folder_generation_config(folder)
    with pytest.warns(UserWarning, match=r"sets typical_p=0.9, which this runtime does not apply"):
        warn_about_unapplied(config, folder)
    assert settings_from(config).no_repeat_ngram_size == 3


BEAM_CASES = [(*case, beams, penalty, stopping) for case in CASES for beams, penalty, stopping in ((3, 1.0, False), (4, 2.0, True), (2, -0.5, "never"))]


@pytest.mark.parametrize(
    "model_type,base,feature,num_beams,length_penalty,early_stopping", BEAM_CASES,
    ids=[f"{case[0]}-beams{case[3]}-lp{case[4]}-{case[5]}" for case in BEAM_CASES],
)
def test_beam_search_matches_generate(model_type, base, feature, num_beams, length_penalty, early_stopping, tiny_checkpoint, tmp_path):
    """Beams, length penalty and early stopping from the generation config; an end token that some beams reach."""
    folder, model, ids, mask, plain, start = _editable_checkpoint(model_type, base, tiny_checkpoint, tmp_path)
    config = model.generation_config
    config.eos_token_id = int(plain[1, start + 4])  # reached by some hypotheses, so finished beams compete
    config.num_beams, config.length_penalty, config.early_stopping = num_beams, length_penalty, early_stopping
    config.save_pretrained(folder)
    expected = _torch_generate(model, ids, mask)
    runtime = _exported_runtime(folder, model, feature, tmp_path)
    got = runtime.generate(ids, mask, max_new_tokens=20)
    assert got.tolist() == expected.tolist()
    if length_penalty > 0:  # (a negative penalty favours the shortest hypothesis, which greedy may find too)
        assert runtime.generate(ids, mask, max_new_tokens=20, num_beams=1).tolist() != expected.tolist()


def test_settings_come_from_the_generation_config_alone_when_there_is_one(tmp_path):
    """generate() reads generation_config.json and nothing of config.json when the former exists."""
    import json

    from transformers import BartConfig

    from transformers_export.runtime.arguments import folder_generation_config, settings_from

    BartConfig(eos_token_id=2, forced_eos_token_id=2, pad_token_id=1).save_pretrained(tmp_path)
    from_config = settings_from(folder_generation_config(tmp_path))
    assert from_config.eos_token_id == [2] and from_config.forced_eos_token_id == [2] and from_config.pad_token_id == 1
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": 3}))
    settings = settings_from(folder_generation_config(tmp_path))
    assert settings.eos_token_id == [3] and settings.forced_eos_token_id is None
    assert settings.pad_token_id == 3, "without a pad token, finished rows are padded with the end token"


@pytest.mark.parametrize(
    "options",
    [dict(temperature=0.7), dict(top_k=5), dict(top_p=0.8), dict(min_p=0.2), dict(temperature=1.3, top_k=20, top_p=0.9, min_p=0.05)],
    ids=["temperature", "top_k", "top_p", "min_p", "all"],
)
def test_sampling_warpers_equal_transformers(options):
    from transformers.generation.logits_process import (
        LogitsProcessorList, MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
    )

    from transformers_export.runtime import GenerationSettings
    from transformers_export.runtime.rules import warp_for_sampling

    settings = GenerationSettings(eos_token_id=[], **{"top_k": 0, **options})
    warpers = LogitsProcessorList()
    if settings.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(settings.temperature))
    if settings.top_k:
        warpers.append(TopKLogitsWarper(settings.top_k))
    if settings.top_p < 1.0:
        warpers.append(TopPLogitsWarper(settings.top_p))
    if settings.min_p is not None:
        warpers.append(MinPLogitsWarper(settings.min_p))
    logits = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32) * 3
    expected = warpers(torch.zeros(4, 1, dtype=torch.int64), torch.from_numpy(logits.copy())).numpy()
    got = logits.copy()
    warp_for_sampling(got, settings)
    assert (np.isinf(got) == np.isinf(expected)).all()
    np.testing.assert_allclose(got[~np.isinf(got)], expected[~np.isinf(expected)], rtol=1e-6)
    assert np.isinf(got).any() or options == dict(temperature=0.7)


def test_sampling_is_reproducible_and_top_k_1_is_greedy(tiny_checkpoint, tmp_path):
    from transformers_export.runtime import OnnxModelForCausalLM

    export_model(str(tiny_checkpoint("gpt2", "causal-lm-with-past")), tmp_path / "onnx", feature="causal-lm-with-past")
    model = OnnxModelForCausalLM(tmp_path / "onnx")
    prompt, mask = np.array([[0, 0, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]]), np.array([[0, 0, 1, 1, 1, 1], [1] * 6])
    first = model.generate(prompt, mask, max_new_tokens=20, do_sample=True, seed=1)
    assert first.tolist() == model.generate(prompt, mask, max_new_tokens=20, do_sample=True, seed=1).tolist()
    assert first.tolist() != model.generate(prompt, mask, max_new_tokens=20, do_sample=True, seed=2).tolist()
    greedy = model.generate(prompt, mask, max_new_tokens=20)
    assert first.tolist() != greedy.tolist()
    assert model.generate(prompt, mask, max_new_tokens=20, do_sample=True, top_k=1, seed=3).tolist() == greedy.tolist()
    with pytest.raises(ValueError, match="sampling with beams is not supported"):
        model.generate(prompt, mask, do_sample=True, num_beams=2)
