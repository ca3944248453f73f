"""Dummy inputs by name: shapes from the axis table, masks with a padded last row, ids inside the vocabulary."""

import pytest
from transformers import BertConfig

from transformers_export.dummy_inputs.sizes import DEFAULT_SIZES, VALIDATION_SIZES
from transformers_export.dummy_inputs.specs import make_dummy_inputs
from transformers_export.errors import InvalidArgumentError

CONFIG = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20)
TEXT = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "token_type_ids": {0: "batch", 1: "sequence"}}


def test_shapes_come_from_the_axis_table():
    tensors = make_dummy_inputs(TEXT, CONFIG)
    assert list(tensors) == list(TEXT)
    assert all(t.shape == (DEFAULT_SIZES["batch"], DEFAULT_SIZES["sequence"]) for t in tensors.values())


def test_the_last_rows_mask_is_padded_so_no_exporter_drops_it():
    mask = make_dummy_inputs(TEXT, CONFIG, VALIDATION_SIZES[0])["attention_mask"]
    assert mask[:-1].all() and not mask[-1].all() and mask[-1].any()


def test_ids_stay_inside_the_vocabulary_and_are_repeatable():
    first = make_dummy_inputs(TEXT, CONFIG, {"batch": 4, "sequence": 32})["input_ids"]
    assert 0 <= int(first.min()) and int(first.max()) < CONFIG.vocab_size
    assert first.equal(make_dummy_inputs(TEXT, CONFIG, {"batch": 4, "sequence": 32})["input_ids"])


def test_an_unknown_input_says_how_to_provide_it():
    with pytest.raises(InvalidArgumentError, match="no dummy-input generator for input 'my_input'; override"):
        make_dummy_inputs({"my_input": {0: "batch"}}, CONFIG)
