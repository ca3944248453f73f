"""Key/value caches between transformers 5 `Cache` objects and flat named tensors.

Exported graphs take and return plain tensors (`past_key_values.{i}.key` -> `present.{i}.key`, shape
`(batch, kv_heads, sequence, head_dim)`); transformers 5 models take and return `Cache` objects. This module converts
both ways and finds the cache's per-layer shapes from a real forward pass, which is right for grouped-query attention
and for head_dim != hidden_size / heads, where config arithmetic is not.

Every layer is a full (non-sliding) `DynamicLayer`: the graph keeps all past positions, and sliding-window models mask
the positions outside their window themselves, so the exported graph and PyTorch see the same attention.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch


@dataclass(frozen=True)
class LayerShape:
    """`(kv_heads, head_dim)` of one layer's key and value."""

    key: tuple[int, int]
    value: tuple[int, int]


def cache_argument(model) -> str:
    """The forward keyword that takes the cache: `cache` since transformers 5.2x, `past_key_values` before."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_from_pairs(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]):
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(pairs))


def encoder_decoder_cache(named: Mapping[str, torch.Tensor]):
    """An `EncoderDecoderCache` from flat `past_key_values.{i}.decoder|encoder.key|value` tensors.

    transformers marks a layer's cross-attention as computed when its cache is non-empty, so a filled encoder part is
    used as is and the encoder states are not projected again.
    """
    from transformers import EncoderDecoderCache

    layers = sum(1 for name in named if name.startswith("past_key_values.") and name.endswith(".decoder.key"))
    parts = [
        [(named[f"past_key_values.{i}.{side}.key"], named[f"past_key_values.{i}.{side}.value"]) for i in range(layers)]
        for side in ("decoder", "encoder")
    ]
    return EncoderDecoderCache(cache_from_pairs(parts[0]), cache_from_pairs(parts[1]))


def empty_encoder_decoder_cache():
    """A cache for an encoder-decoder's first step: nothing generated, cross-attention not computed yet."""
    from transformers import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())


def layer_tensors(cache) -> list[tuple[torch.Tensor, ...]]:
    """Per layer (key, value), or (self key, self value, cross key, cross value) for an encoder-decoder cache."""
    if hasattr(cache, "cross_attention_cache"):
        return [
            (*self_pair, *cross_pair)
            for self_pair, cross_pair in zip(pairs_from_cache(cache.self_attention_cache), pairs_from_cache(cache.cross_attention_cache))
        ]
    return pairs_from_cache(cache)


def pairs_from_cache(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-layer (key, value) of a `Cache`, or of a legacy tuple of tuples."""
    layers = getattr(cache, "layers", None)
    if layers is None:
        return [(layer[0], layer[1]) for layer in cache]
    return [(layer.keys, layer.values) for layer in layers]


def model_cache(model_output):
    """The cache a forward returned (field `cache` in transformers 5.2x, `past_key_values` before), or None."""
    for name in ("cache", "past_key_values"):
        value = model_output.get(name) if hasattr(model_output, "get") else None
        if value is not None:
            return value
    return None


def probe_layer_shapes(model) -> list[LayerShape]:
    """Run one token through the model with a cache and read each layer's key/value shapes."""
    inputs = {"input_ids": torch.zeros(1, 1, dtype=torch.int64), "attention_mask": torch.ones(1, 1, dtype=torch.int64)}
    with torch.no_grad():
        output = model(**inputs, use_cache=True, return_dict=True)
    cache = model_cache(output)
    if cache is None:
        return []
    return [
        LayerShape(key=(key.shape[1], key.shape[3]), value=(value.shape[1], value.shape[3]))
        for key, value in pairs_from_cache(cache)
    ]


def probe_encoder_decoder_layer_shapes(model, decoder_start_token_id: int) -> list[tuple[LayerShape, LayerShape]]:
    """Per decoder layer, the shapes of its self-attention and cross-attention caches, from one real step."""
    with torch.no_grad():
        output = model(
            input_ids=torch.zeros(1, 3, dtype=torch.int64),
            attention_mask=torch.ones(1, 3, dtype=torch.int64),
            decoder_input_ids=torch.full((1, 1), decoder_start_token_id),
            use_cache=True,
            return_dict=True,
            **{cache_argument(model): empty_encoder_decoder_cache()},
        )
    return [
        (LayerShape((sk.shape[1], sk.shape[3]), (sv.shape[1], sv.shape[3])), LayerShape((ck.shape[1], ck.shape[3]), (cv.shape[1], cv.shape[3])))
        for sk, sv, ck, cv in layer_tensors(model_cache(output))
    ]
