"""The cache contract's names, in numpy only: one spelling for every cache tensor, parsed back losslessly."""

import numpy as np
import pytest

from transformers_export.cache import names as cache


@pytest.mark.parametrize("direction", [cache.PAST, cache.PRESENT])
@pytest.mark.parametrize("side", [None, *cache.SIDES])
@pytest.mark.parametrize("kind", [*cache.KINDS, "conv", "recurrent_1"])
def test_names_parse_back_to_their_parts(direction, side, kind):
    name = cache.cache_name(direction, 3, kind, side)
    parsed = cache.parse_name(name)
    assert (parsed.direction, parsed.layer, parsed.kind, parsed.side) == (direction, 3, kind, side)
    assert parsed.is_state == (kind not in cache.KINDS)


@pytest.mark.parametrize("name", ["logits", "past_key_values", "present.x.key", "past_key_values.0.cross.key", "present.0.key.1"])
def test_other_names_are_not_cache_names(name):
    assert cache.parse_name(name) is None and not cache.is_past(name) and not cache.is_present(name)


def test_presents_become_the_next_steps_past_of_one_side():
    outputs = {
        "logits": np.zeros(1),
        cache.cache_name(cache.PRESENT, 0, "key", "decoder"): np.ones(1),
        cache.cache_name(cache.PRESENT, 0, "key", "encoder"): np.full(1, 2.0),
    }
    assert list(cache.presents_as_past(outputs)) == [
        cache.cache_name(cache.PAST, 0, "key", "decoder"), cache.cache_name(cache.PAST, 0, "key", "encoder")
    ]
    encoder = cache.presents_as_past(outputs, side="encoder")
    assert list(encoder) == [cache.cache_name(cache.PAST, 0, "key", "encoder")] and encoder[list(encoder)[0]][0] == 2.0


def test_state_kinds_number_a_layers_further_states():
    assert cache.state_kind("conv", 0) == "conv" and cache.state_kind("recurrent", 2) == "recurrent_2"
    assert cache.is_state(cache.cache_name(cache.PAST, 1, cache.state_kind("conv", 1)))


def test_entries_cover_every_layer_and_side_with_contract_axes():
    entries = cache.cache_entries(cache.PAST, 2, encoder_decoder=True)
    assert len(entries) == 2 * 2 * 2  # layers x sides x (key, value)
    assert all(axes[0] == "batch" for axes in entries.values())
