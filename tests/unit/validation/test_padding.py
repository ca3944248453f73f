"""Padded positions are found along the mask's axis and zeroed on both sides; nothing else is touched."""

import numpy as np

from transformers_export.cache import names as cache
from transformers_export.validation.padding import decoder_padding, padded_positions, without_padding

MASK = np.array([[0, 0, 1, 1], [1, 1, 1, 1]])  # left padding in the first row


def test_outputs_along_the_mask_get_its_padded_positions():
    outputs = {"last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}}
    padding = padded_positions(outputs, "sequence", MASK, {"last_hidden_state": (2, 4, 8), "pooler_output": (2, 8)})
    assert list(padding) == ["last_hidden_state"]
    axis, padded = padding["last_hidden_state"]
    assert axis == 1 and padded.tolist() == [[True, True, False, False], [False, False, False, False]]


def test_a_decoder_steps_logits_follow_the_new_tokens_and_its_cache_the_whole_mask():
    past = cache.cache_name(cache.PRESENT, 0, "key")
    state = cache.cache_name(cache.PRESENT, 1, "conv")
    outputs = {"logits": np.zeros((2, 1, 5)), past: np.zeros((2, 2, 4, 3)), state: np.zeros((2, 6, 3))}
    padding = decoder_padding(outputs, MASK)
    assert padding["logits"][0] == 1 and padding["logits"][1].tolist() == [[False], [False]]
    assert padding[past][0] == 2 and padding[past][1].tolist() == (MASK == 0).tolist()
    assert state not in padding  # a recurrent state has no token axis


def test_padded_positions_are_zeroed_and_the_rest_kept():
    value = np.arange(2 * 4, dtype=np.float32).reshape(2, 4) + 1
    kept = without_padding({"x": value, "y": value}, {"x": (1, MASK == 0)})
    assert kept["x"].tolist() == [[0, 0, 3, 4], [5, 6, 7, 8]]
    assert kept["y"].tolist() == value.tolist()
