"""The runtime's generation rules in numpy equal transformers' own logits processors on the same scores."""

import numpy as np
import pytest
import torch
from transformers import generation as hf

from transformers_export.runtime.rules import GenerationSettings, apply_rules, warp_for_sampling

VOCAB = 12


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    sequences = rng.integers(0, VOCAB, size=(3, 7))
    sequences[:, -3:] = sequences[:, 1:4]  # repeats, so n-gram and repetition rules have something to do
    return sequences, rng.normal(size=(3, VOCAB)).astype(np.float32) * 3


def _theirs(processor, sequences, scores):
    return processor(torch.from_numpy(sequences), torch.from_numpy(scores.copy())).numpy()


@pytest.mark.parametrize(
    "settings, processor",
    [
        (dict(repetition_penalty=1.7), hf.RepetitionPenaltyLogitsProcessor(1.7)),
        (dict(no_repeat_ngram_size=2), hf.NoRepeatNGramLogitsProcessor(2)),
        (dict(suppress_tokens=[1, 4, 50]), hf.SuppressTokensLogitsProcessor([1, 4], device="cpu")),
    ],
    ids=["repetition_penalty", "no_repeat_ngram_size", "suppress_tokens"],
)
def test_rules_equal_transformers_processors(settings, processor):
    sequences, scores = _inputs()
    ours = scores.copy()
    apply_rules(
        ours, sequences, prompt_length=3, max_length=20, settings=GenerationSettings(eos_token_id=[0], **settings)
    )
    np.testing.assert_allclose(ours, _theirs(processor, sequences, scores), rtol=1e-6)


def test_eos_is_banned_below_the_minimum_length():
    sequences, scores = _inputs()
    ours = scores.copy()
    apply_rules(ours, sequences, 3, 20, GenerationSettings(eos_token_id=[0, 2], min_length=9))
    assert np.isneginf(ours[:, [0, 2]]).all() and np.isfinite(np.delete(ours, [0, 2], axis=1)).all()


@pytest.mark.parametrize(
    "settings, processor",
    [
        (dict(temperature=0.6, top_k=0), hf.TemperatureLogitsWarper(0.6)),
        (dict(top_k=4), hf.TopKLogitsWarper(4)),
        (dict(top_k=0, top_p=0.7), hf.TopPLogitsWarper(0.7)),
        (dict(top_k=0, min_p=0.2), hf.MinPLogitsWarper(0.2)),
    ],
    ids=["temperature", "top_k", "top_p", "min_p"],
)
def test_sampling_warpers_equal_transformers_warpers(settings, processor):
    sequences, scores = _inputs(1)
    ours = scores.copy()
    warp_for_sampling(ours, GenerationSettings(eos_token_id=[0], **settings))
    np.testing.assert_allclose(ours, _theirs(processor, sequences, scores), rtol=1e-6)


@pytest.mark.parametrize(
    "max_new_tokens, max_length, prompt, expected", [(5, 20, 6, 5), (None, 20, 6, 14), (None, 4, 6, 0)]
)
def test_new_tokens_follow_max_new_tokens_then_max_length(max_new_tokens, max_length, prompt, expected):
    settings = GenerationSettings(eos_token_id=[0], max_new_tokens=max_new_tokens, max_length=max_length)
    assert settings.new_tokens(prompt) == expected


@pytest.mark.parametrize("prompt, max_positions, expected", [(6, None, 20), (1, None, 20), (6, 16, 10), (30, 16, 0)])
def test_without_a_length_twenty_new_tokens_capped_at_the_models_positions(prompt, max_positions, expected):
    """transformers 5: with no max_length anywhere, 20 new tokens; prompt + new at most max_position_embeddings."""
    settings = GenerationSettings(eos_token_id=[0], max_positions=max_positions)
    assert settings.new_tokens(prompt) == expected
