"""The cache module: names, axes, flattening and dummy tensors round-trip, for decoders and encoder-decoders."""

import numpy as np
import pytest
import torch

from transformers_export.cache import names as cache, objects as cache_objects


@pytest.mark.parametrize(
    "name,parts",
    [
        ("past_key_values.0.key", ("past_key_values", 0, "key", None)),
        ("present.11.value", ("present", 11, "value", None)),
        ("past_key_values.3.encoder.key", ("past_key_values", 3, "key", "encoder")),
        ("present.2.decoder.value", ("present", 2, "value", "decoder")),
    ],
)
def test_names_round_trip(name, parts):
    parsed = cache.parse_name(name)
    assert (parsed.direction, parsed.layer, parsed.kind, parsed.side) == parts
    assert cache.cache_name(*parts) == name == str(parsed)


@pytest.mark.parametrize("name", ["input_ids", "past_key_values.x.key", "present.0.cross.key", "present.0.key.extra"])
def test_other_names_are_not_cache_names(name):
    assert cache.parse_name(name) is None and not cache.is_past(name) and not cache.is_present(name)


def test_presents_become_the_next_past_by_side():
    outputs = {"logits": 1, "present.0.decoder.key": 2, "present.0.encoder.key": 3, "present.1.decoder.value": 4}
    assert cache.presents_as_past(outputs) == {
        "past_key_values.0.decoder.key": 2, "past_key_values.0.encoder.key": 3, "past_key_values.1.decoder.value": 4
    }
    assert cache.presents_as_past(outputs, side="encoder") == {"past_key_values.0.encoder.key": 3}


def test_entries_and_axes():
    decoder = cache.cache_entries(cache.PAST, 2, encoder_decoder=False)
    assert list(decoder) == ["past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"]
    assert decoder["past_key_values.1.value"] == {0: "batch", 2: "past_sequence"}
    present = cache.cache_entries(cache.PRESENT, 1, encoder_decoder=True)
    assert present == {
        "present.0.decoder.key": {0: "batch", 2: "past_decoder_sequence + decoder_sequence"},
        "present.0.decoder.value": {0: "batch", 2: "past_decoder_sequence + decoder_sequence"},
        "present.0.encoder.key": {0: "batch", 2: "encoder_sequence"},
        "present.0.encoder.value": {0: "batch", 2: "encoder_sequence"},
    }
    assert list(cache.cache_entries(cache.PRESENT, 1, True, sides=("encoder",))) == ["present.0.encoder.key", "present.0.encoder.value"]


def test_dummy_past_shapes_and_determinism():
    shapes = [cache.LayerShape((2, 8), (2, 4))] * 3
    first = cache.dummy_past(2, shapes, {None: 5})
    assert first["past_key_values.2.key"].shape == (2, 2, 5, 8) and first["past_key_values.2.value"].shape == (2, 2, 5, 4)
    assert all(torch.equal(first[name], value) for name, value in cache.dummy_past(2, shapes, {None: 5}).items())
    pair = (cache.LayerShape((4, 8), (4, 8)), cache.LayerShape((4, 8), (4, 8)))
    seq2seq = cache.dummy_past(1, [pair], {"decoder": 0, "encoder": 7})
    assert seq2seq["past_key_values.0.decoder.key"].shape == (1, 4, 0, 8)
    assert seq2seq["past_key_values.0.encoder.value"].shape == (1, 4, 7, 8)


def test_named_tensors_to_cache_and_back():
    shapes = [cache.LayerShape((2, 8), (2, 8))] * 2
    named = cache.dummy_past(3, shapes, {None: 4})
    restored = cache.flatten(cache.PAST, cache_objects.layer_tensors(cache_objects.cache_from_named(named)))
    assert list(restored) == list(named)
    assert all(torch.equal(restored[name], named[name]) for name in named)

    pair = (cache.LayerShape((2, 8), (2, 8)), cache.LayerShape((2, 8), (2, 8)))
    named = cache.dummy_past(1, [pair, pair], {"decoder": 2, "encoder": 6})
    restored = cache.flatten(cache.PAST, cache_objects.layer_tensors(cache_objects.cache_from_named(named)))
    assert sorted(restored) == sorted(named)
    assert all(torch.equal(restored[name], named[name]) for name in named)


def test_shapes_probed_from_a_real_forward_match_grouped_query_attention(tiny_checkpoint):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint("llama", "causal-lm")).eval()
    shapes = cache_objects.probe_layer_shapes(model)
    assert shapes == [cache.LayerShape((2, 8), (2, 8))] * 2  # 2 kv heads of 4 attention heads, head_dim 32 / 4


def test_empty_past_is_numpy_and_zero_length():
    past = cache.empty_past({"past_key_values.0.key": (2, 8)}, 3, np.float32)
    assert past["past_key_values.0.key"].shape == (3, 2, 0, 8) and past["past_key_values.0.key"].dtype == np.float32
