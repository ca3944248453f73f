"""Key/value caches: the one place that knows their tensor names, axes, dummy values and `Cache` conversions.

Exported graphs take and return plain tensors; transformers 5 models take and return `Cache` objects. The contract:

- decoder-only: inputs `past_key_values.{i}.key|value`, outputs `present.{i}.key|value`, shape
  `(batch, kv_heads, past_sequence, head_dim)`;
- encoder-decoder: the same with `.decoder.` (self-attention) or `.encoder.` (cross-attention) between the layer index
  and `key|value`.

Per-layer shapes are read from a real forward pass (right for grouped-query attention and head_dim != hidden / heads,
where config arithmetic is not). Every layer is a full (non-sliding) `DynamicLayer`: the graph keeps all past
positions, and sliding-window models mask the positions outside their window themselves.

Name helpers need only the standard library and numpy, so the runtime uses them without importing torch.
"""

from __future__ import annotations

import functools

import inspect
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

PAST, PRESENT = "past_key_values", "present"
KINDS = ("key", "value")
SIDES = ("decoder", "encoder")  # self-attention, cross-attention
_NAME = re.compile(r"^(past_key_values|present)\.(\d+)\.(?:(decoder|encoder)\.)?(key|value)$")


@dataclass(frozen=True)
class CacheName:
    direction: str  # PAST or PRESENT
    layer: int
    kind: str  # key or value
    side: str | None = None  # decoder / encoder for encoder-decoder caches

    def __str__(self) -> str:
        side = f"{self.side}." if self.side else ""
        return f"{self.direction}.{self.layer}.{side}{self.kind}"


def cache_name(direction: str, layer: int, kind: str, side: str | None = None) -> str:
    return str(CacheName(direction, layer, kind, side))


def parse_name(name: str) -> CacheName | None:
    """The parts of a cache tensor name, or None for any other name."""
    match = _NAME.match(name)
    if not match:
        return None
    direction, layer, side, kind = match.groups()
    return CacheName(direction, int(layer), kind, side)


def is_past(name: str, side: str | None = None) -> bool:
    parsed = parse_name(name)
    return parsed is not None and parsed.direction == PAST and (side is None or parsed.side == side)


def is_present(name: str, side: str | None = None) -> bool:
    parsed = parse_name(name)
    return parsed is not None and parsed.direction == PRESENT and (side is None or parsed.side == side)


def presents_as_past(outputs: Mapping[str, Any], side: str | None = None) -> dict[str, Any]:
    """A step's `present.*` outputs renamed as the next step's `past_key_values.*` inputs (of one side, if given)."""
    return {
        cache_name(PAST, parsed.layer, parsed.kind, parsed.side): value
        for name, value in outputs.items()
        if (parsed := parse_name(name)) and parsed.direction == PRESENT and (side is None or parsed.side == side)
    }


def past_axes(direction: str, encoder_decoder: bool) -> dict[str, dict[int, str]]:
    """Symbolic axes of one layer's cache tensors, by the part of the name after the layer index."""
    if not encoder_decoder:
        axis = "past_sequence" if direction == PAST else "past_sequence + sequence"
        return {kind: {0: "batch", 2: axis} for kind in KINDS}
    decoder_axis = "past_decoder_sequence" if direction == PAST else "past_decoder_sequence + decoder_sequence"
    return {
        f"{side}.{kind}": {0: "batch", 2: axis}
        for side, axis in (("decoder", decoder_axis), ("encoder", "encoder_sequence"))
        for kind in KINDS
    }


def cache_entries(direction: str, layers: int, encoder_decoder: bool, sides: Sequence[str] = SIDES) -> dict[str, dict[int, str]]:
    """Name -> axes of every cache tensor of `layers` layers, in graph order (per layer: decoder then encoder side)."""
    entries = {}
    for i in range(layers):
        for part, axes in past_axes(direction, encoder_decoder).items():
            if encoder_decoder and part.split(".")[0] not in sides:
                continue
            entries[f"{direction}.{i}.{part}"] = axes
    return entries


def flatten(direction: str, layers: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Named tensors for per-layer tuples: (key, value), or (self key, self value, cross key, cross value)."""
    named = {}
    for i, tensors in enumerate(layers):
        parts = [(None, kind) for kind in KINDS] if len(tensors) == 2 else [(side, kind) for side in SIDES for kind in KINDS]
        for (side, kind), tensor in zip(parts, tensors):
            named[cache_name(direction, i, kind, side)] = tensor
    return named


@dataclass(frozen=True)
class LayerShape:
    """`(kv_heads, head_dim)` of one layer's key and value."""

    key: tuple[int, int]
    value: tuple[int, int]


def dummy_past(batch: int, layer_shapes: Sequence, lengths: Mapping[str | None, int]) -> dict[str, Any]:
    """Seeded random cache tensors `(batch, heads, length, head_dim)`; the same values on every call.

    `layer_shapes` holds a `LayerShape` per layer (decoder-only) or a (self, cross) pair of them (encoder-decoder);
    `lengths` maps the side (None for decoder-only) to its sequence length.
    """
    import torch

    generator = torch.Generator().manual_seed(1)
    tensors = {}
    for i, layer in enumerate(layer_shapes):
        sides = [(None, layer)] if isinstance(layer, LayerShape) else list(zip(SIDES, layer))
        for side, shape in sides:
            for kind, (heads, dim) in zip(KINDS, (shape.key, shape.value)):
                tensors[cache_name(PAST, i, kind, side)] = torch.randn(batch, heads, lengths[side], dim, generator=generator)
    return tensors


def empty_past(dims: Mapping[str, tuple[int, int]], batch: int, dtype) -> dict[str, Any]:
    """Zero-length numpy past tensors for `{name: (heads, head_dim)}`: the first step of a decode."""
    import numpy as np

    return {name: np.zeros((batch, heads, 0, dim), dtype) for name, (heads, dim) in dims.items()}


# --- transformers `Cache` objects ---------------------------------------------------------------------------------


def cache_argument(model) -> str:
    """The forward keyword that takes the cache: `cache` since transformers 5.2x, `past_key_values` before."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_from_pairs(pairs: Sequence[tuple[Any, Any]]):
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(pairs))


def cache_from_named(named: Mapping[str, Any]):
    """A `DynamicCache` (decoder-only names) or `EncoderDecoderCache` (names with sides) from flat past tensors.

    transformers marks a layer's cross-attention as computed when its cache is non-empty, so a filled encoder part is
    used as is and the encoder states are not projected again.
    """
    parsed = [p for name in named if (p := parse_name(name)) and p.direction == PAST]
    layers = len({p.layer for p in parsed})

    def pairs(side):
        return [(named[cache_name(PAST, i, "key", side)], named[cache_name(PAST, i, "value", side)]) for i in range(layers)]

    if not any(p.side for p in parsed):
        return cache_from_pairs(pairs(None))
    from transformers import EncoderDecoderCache

    return EncoderDecoderCache(cache_from_pairs(pairs("decoder")), cache_from_pairs(pairs("encoder")))


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


def layer_tensors(cache) -> list[tuple[Any, ...]]:
    """Per layer (key, value), or (self key, self value, cross key, cross value) for an encoder-decoder cache."""
    if hasattr(cache, "cross_attention_cache"):
        return [
            (*self_pair, *cross_pair)
            for self_pair, cross_pair in zip(pairs_from_cache(cache.self_attention_cache), pairs_from_cache(cache.cross_attention_cache))
        ]
    return pairs_from_cache(cache)


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
    """Per-layer shapes from one real step: `LayerShape`s for a decoder, (self, cross) pairs for an encoder-decoder."""
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
            inputs = {"input_ids": torch.zeros(1, 1, dtype=torch.int64), "attention_mask": torch.ones(1, 1, dtype=torch.int64)}
            output = model(**inputs, use_cache=True, return_dict=True)
    cache = model_cache(output)
    if cache is None:
        return []
    layers = layer_tensors(cache)
    # an encoder class used as a decoder (MegatronBERT, RemBERT) keeps an encoder-decoder cache with no cross part
    layers = [t[:2] if len(t) == 4 and t[2] is None else t for t in layers]
    return [_shape(*t) if len(t) == 2 else (_shape(t[0], t[1]), _shape(t[2], t[3])) for t in layers]


def unexportable_cache(config) -> str | None:
    """Why the cache of models with this config cannot be exported as key/value tensors, or None when it can.

    Hybrid and state-space models (Mamba, Jamba, Qwen3-Next, RecurrentGemma, ...) keep recurrent state in some layers
    (transformers' linear-attention cache layers), and DeepSeek sparse attention (DeepSeek-V3.2, GLM-MoE-DSA, ...)
    keeps an indexer key cache beside keys and values: this module's key/value contract carries neither."""
    from transformers import DynamicCache

    if getattr(config, "index_topk", None) is not None:
        return "its sparse attention keeps an indexer key cache beside keys and values, which the exported cache inputs cannot carry yet"

    try:
        layers = DynamicCache(config=config).layers
    except Exception:  # noqa: BLE001 - a config DynamicCache cannot read: the forward-pass probe decides later
        return None
    recurrent = sorted({type(layer).__name__ for layer in layers if "LinearAttention" in type(layer).__name__})
    if not recurrent:
        return None
    return (
        f"its cache holds recurrent state ({', '.join(recurrent)}), which the exported key/value cache inputs cannot "
        "carry yet"
    )
