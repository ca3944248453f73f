"""The runtime's input checks: each wrong input is a ValueError naming it and what was expected."""

import numpy as np
import pytest

from transformers_export.runtime.inputs import check_ids, check_mask, check_prompt, check_step


@pytest.mark.parametrize(
    "value, vocab, message",
    [
        (np.array([[1.5, 2.0]]), None, "must hold integer token ids"),
        (np.array([[1, -2]]), None, "negative token ids"),
        (np.array([[1, 99]]), 50, "token id 99, outside the vocabulary of 50"),
        ("hello", None, "must hold integer token ids, got dtype <U5"),
        ([[1, 2], [3]], None, "input_ids"),  # ragged: not an array at all
    ],
)
def test_bad_ids_are_refused_by_name(value, vocab, message):
    with pytest.raises(ValueError, match=message):
        check_ids("input_ids", value, vocab)


def test_good_ids_come_back_as_int64():
    assert check_ids("input_ids", [[1, 2, 3]], 10).dtype == np.int64


@pytest.mark.parametrize(
    "mask, message",
    [(np.ones((2, 3)), r"must have shape \(1, 3\)"), (np.full((1, 3), 0.5), "must hold only 0 and 1")],
)
def test_bad_masks_are_refused(mask, message):
    with pytest.raises(ValueError, match=message):
        check_mask(mask, 1, 3)


def test_a_prompt_needs_a_real_token_in_every_row():
    ids, mask = check_prompt(np.array([[5, 6]]))
    assert mask.tolist() == [[1, 1]]
    with pytest.raises(ValueError, match="a row of zeros"):
        check_prompt(np.array([[5, 6], [7, 8]]), np.array([[1, 1], [0, 0]]))
    with pytest.raises(ValueError, match="input_ids is empty"):
        check_prompt(np.zeros((1, 0), np.int64))


def test_a_step_refuses_a_cache_of_another_batch():
    past = {"past_key_values.0.key": np.zeros((3, 2, 4, 8), np.float32)}
    with pytest.raises(ValueError, match="is for batch 3, but input_ids has batch 2"):
        check_step(np.ones((2, 1), np.int64), np.ones((2, 5), np.int64), past, {"past_key_values.0.key": (2, 8)})
