"""transformers `Cache` objects and the cache's graph tensors (`cache`): conversions both ways, the forward that
probes a model's cache shapes, and the caches no graph contract carries.

A graph with recurrent state runs the model's one-token recurrent update. A padding token must leave a row's state
as it was (a left-padded prompt is fed one token at a time, padding first), and models differ in whether their
recurrent step reads the mask at all; so the states a step returns are the new ones for the rows whose current
token is real and the old ones for the others (`step_rows`).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Mapping, Sequence

from .names import KINDS, PAST, STATE_KINDS, LayerShape, cache_name, parse_name, state_kind


def cache_argument(model) -> str:
    """The forward keyword that takes the cache: `cache` since transformers 5.2x, `past_key_values` before."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_from_pairs(pairs: Sequence[tuple[Any, Any]]):
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(pairs))


def prefix_mask_cache(named: Mapping[str, Any]):
    """A decoder-only cache from flat past tensors that reports itself as not yet initialized.

    PaliGemma builds its token-type mask (the image and prompt prefix attending both ways) only on what it takes for
    the first step: a cache that is not initialized. One graph serves every step, so the graph applies the mask at
    every step; at later steps that changes nothing, since a generated token is never part of the prefix."""
    cache = _prefix_mask_cache_class()()
    cache.layers = cache_from_named(named).layers
    return cache


@functools.cache
def _prefix_mask_cache_class():
    from transformers import DynamicCache

    class PrefixMaskCache(DynamicCache):
        is_initialized = False

    return PrefixMaskCache


def cache_from_named(named: Mapping[str, Any], step_rows=None):
    """A `DynamicCache` (decoder-only names) or `EncoderDecoderCache` (names with sides) from flat past tensors.

    transformers marks a layer's cross-attention as computed when its cache is non-empty, so a filled encoder part is
    used as is and the encoder states are not projected again. With recurrent states, `step_rows` (batch,) says which
    rows' current token is real: only their states change.
    """
    parsed = [p for name in named if (p := parse_name(name)) and p.direction == PAST]
    if any(p.is_state for p in parsed):
        return _stepped_cache(named, parsed, step_rows)
    layers = len({p.layer for p in parsed})

    def pairs(side):
        return [
            (named[cache_name(PAST, i, "key", side)], named[cache_name(PAST, i, "value", side)]) for i in range(layers)
        ]

    if not any(p.side for p in parsed):
        return cache_from_pairs(pairs(None))
    from transformers import EncoderDecoderCache

    return EncoderDecoderCache(cache_from_pairs(pairs("decoder")), cache_from_pairs(pairs("encoder")))


def _stepped_cache(named: Mapping[str, Any], parsed: Sequence, step_rows):
    """A `DynamicCache` whose layers hold the given keys/values and recurrent states, ready for a one-token step."""
    from transformers import DynamicCache
    from transformers.cache_utils import (
        DummyLayer,
        DynamicLayer,
        LinearAttentionAndFullAttentionLayer,
        LinearAttentionLayer,
    )

    by_layer: dict[int, dict[str, Any]] = {}
    for name in parsed:
        by_layer.setdefault(name.layer, {})[name.kind] = named[str(name)]
    layers = []
    for i in range(max(by_layer) + 1):
        parts = by_layer.get(i, {})
        states = {kind: tensor for kind, tensor in parts.items() if kind not in KINDS}
        if not states:
            layer = DynamicLayer() if "key" in parts else DummyLayer()
        else:
            count = 1 + max(int(kind.partition("_")[2] or 0) for kind in states)
            layer_class = LinearAttentionAndFullAttentionLayer if "key" in parts else LinearAttentionLayer
            layer = layer_class(number_of_states=count)
            _set_states(layer, states, step_rows)
        if "key" in parts:
            layer.update(parts["key"], parts["value"])
        layers.append(layer)
    cache = DynamicCache()
    cache.layers = layers
    return cache


def _set_states(layer, states: Mapping[str, Any], step_rows) -> None:
    """Fill a linear-attention cache layer as after a previous step: the model then takes its recurrent path."""
    first = next(iter(states.values()))
    layer.dtype, layer.device = first.dtype, first.device
    layer.step_rows = None if step_rows is None else step_rows.bool()
    layer.states_before = dict(states)
    for name, tensor in states.items():
        kind, _, index = name.partition("_")
        index = int(index or 0)
        # models update their states in place: a copy, so that the step's inputs stay what they were
        if kind == "conv":
            layer.conv_states[index] = tensor.clone()
            layer.conv_kernel_size[index] = tensor.shape[-1]
            layer.is_conv_states_initialized[index] = True
        else:
            layer.recurrent_states[index] = tensor.clone()
            layer.is_recurrent_states_initialized[index] = True
        layer.has_previous_state[index] = True


def empty_encoder_decoder_cache():
    """A cache for an encoder-decoder's first step: nothing generated, cross-attention not computed yet."""
    from transformers import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())


def pairs_from_cache(cache) -> list[tuple[Any, Any]]:
    """Per-layer (key, value) of a `Cache`, or of a legacy tuple of tuples."""
    layers = getattr(cache, "layers", None)
    if layers is None:
        return [(layer[0], layer[1]) for layer in cache]
    return [(layer.keys, layer.values) for layer in layers]


def _is_state_layer(layer) -> bool:
    return hasattr(layer, "conv_states") and hasattr(layer, "recurrent_states")


def layer_tensors(cache) -> list[tuple[Any, ...]]:
    """Per layer (key, value), or (self key, self value, cross key, cross value) for an encoder-decoder cache."""
    if hasattr(cache, "cross_attention_cache"):
        return [
            (*self_pair, *cross_pair)
            for self_pair, cross_pair in zip(
                pairs_from_cache(cache.self_attention_cache), pairs_from_cache(cache.cross_attention_cache)
            )
        ]
    layers = getattr(cache, "layers", None)
    if layers is not None and any(_is_state_layer(layer) or getattr(layer, "keys", 0) is None for layer in layers):
        return [_layer_parts(layer) for layer in layers]
    return pairs_from_cache(cache)


def _states_set(layer) -> bool:
    return any(layer.is_conv_states_initialized.values()) or any(layer.is_recurrent_states_initialized.values())


def _layer_parts(layer) -> dict[str, Any]:
    """{name part: tensor} of one layer of a cache with recurrent state: keys and values where it has attention, its
    states (those of padding tokens' rows kept from before the step), nothing for a layer that keeps nothing."""
    parts = {}
    if getattr(layer, "keys", None) is not None:
        parts.update(key=layer.keys, value=layer.values)
    if _is_state_layer(layer):
        rows = getattr(layer, "step_rows", None)
        for kind, states in zip(STATE_KINDS, (layer.conv_states, layer.recurrent_states)):
            for index, tensor in sorted(states.items()):
                if tensor is None:
                    continue
                name = state_kind(kind, index)
                if rows is not None:
                    import torch

                    tensor = torch.where(rows.view(-1, *[1] * (tensor.dim() - 1)), tensor, layer.states_before[name])
                parts[name] = tensor
    return parts


def model_cache(model_output):
    """The cache a forward returned (field `cache` in transformers 5.2x, `past_key_values` before), or None."""
    for name in ("cache", "past_key_values"):
        value = model_output.get(name) if hasattr(model_output, "get") else None
        if value is not None:
            return value
    return None


def is_cache_field(name: str) -> bool:
    return name in ("cache", "past_key_values")


def decoder_start_token_id(model) -> int:
    generation = getattr(model, "generation_config", None)
    for source in (generation, model.config):
        for name in ("decoder_start_token_id", "bos_token_id"):
            value = getattr(source, name, None)
            if value is not None:
                return value
    return 0


def _shape(key, value) -> LayerShape:
    return LayerShape((key.shape[1], key.shape[3]), (value.shape[1], value.shape[3]))


def _parts_shape(parts: Mapping[str, Any]) -> LayerShape:
    attention = _shape(parts["key"], parts["value"]) if "key" in parts else LayerShape(None, None)
    states = tuple((name, tuple(tensor.shape[1:])) for name, tensor in parts.items() if name not in KINDS)
    return LayerShape(attention.key, attention.value, states)


def encoder_output(hidden):
    """Encoder states handed to an encoder-decoder's forward in place of running its encoder."""
    return _encoder_output_class()(last_hidden_state=hidden)


def encoder_width(config) -> int:
    return getattr(config, "d_model", None) or config.hidden_size


@functools.cache
def _encoder_output_class():
    from dataclasses import dataclass

    from transformers.modeling_outputs import BaseModelOutput

    @dataclass
    class EncoderOutput(BaseModelOutput):
        attention_mask: object = None  # Moonshine's forward reads the encoder's reduced mask here: none, no masking

    return EncoderOutput


def probe_layer_shapes(model) -> list:
    """Per-layer shapes from one real step: `LayerShape`s for a decoder, (self, cross) pairs for an encoder-decoder.
    Raises `UnsupportedFeatureError` for a model that returns no cache, or one without its recurrent states."""
    import torch

    with torch.no_grad():
        if getattr(model.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
            # encoder states stand in for the encoder, whatever it reads (token ids, log-mel features, a waveform)
            output = model(
                encoder_outputs=encoder_output(torch.zeros(1, 3, encoder_width(model.config))),
                attention_mask=torch.ones(1, 3, dtype=torch.int64),
                decoder_input_ids=torch.full((1, 1), decoder_start_token_id(model)),
                use_cache=True,
                return_dict=True,
                **{cache_argument(model): empty_encoder_decoder_cache()},
            )
        else:
            inputs = {
                "input_ids": torch.zeros(1, 1, dtype=torch.int64),
                "attention_mask": torch.ones(1, 1, dtype=torch.int64),
            }
            output = model(**inputs, use_cache=True, return_dict=True)
    cache = model_cache(output)
    if cache is None or any(
        _is_state_layer(layer) and not _states_set(layer) for layer in getattr(cache, "layers", ())
    ):
        from ..errors import UnsupportedFeatureError

        # RecurrentGemma: its temporal blocks hold their states as module attributes, which a graph would freeze
        raise UnsupportedFeatureError(
            f"{type(model).__name__} returns no cache with its state (it keeps its state in its modules, or none), so "
            "there is nothing for the exported cache to carry; export the feature without -with-past"
        )
    layers = layer_tensors(cache)
    # an encoder class used as a decoder (MegatronBERT, RemBERT) keeps an encoder-decoder cache with no cross part
    layers = [t[:2] if not isinstance(t, Mapping) and len(t) == 4 and t[2] is None else t for t in layers]
    return [
        _parts_shape(t)
        if isinstance(t, Mapping)
        else _shape(*t)
        if len(t) == 2
        else (_shape(t[0], t[1]), _shape(t[2], t[3]))
        for t in layers
    ]


def unexportable_cache(config) -> str | None:
    """Why the cache of models with this config cannot be exported as graph tensors, or None when it can.

    DeepSeek sparse attention (DeepSeek-V3.2, GLM-MoE-DSA, ...) keeps an indexer key cache beside keys and values,
    which the contract does not carry."""
    if getattr(config, "index_topk", None) is not None:
        return (
            "its sparse attention keeps an indexer key cache beside keys and values, which the exported cache "
            "inputs cannot carry yet"
        )
    return None
