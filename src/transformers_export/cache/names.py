"""Caches as graph tensors: the one place that knows their names, axes, and dummy and empty values.

Exported graphs take and return plain tensors (`cache_objects` converts them to and from transformers' `Cache`).
The contract:

- decoder-only: inputs `past_key_values.{i}.key|value`, outputs `present.{i}.key|value`, shape
  `(batch, kv_heads, past_sequence, head_dim)`;
- encoder-decoder: the same with `.decoder.` (self-attention) or `.encoder.` (cross-attention) between the layer index
  and `key|value`;
- recurrent state (state-space and linear-attention layers: Mamba, Jamba, Qwen3-Next, ...): `past_key_values.{i}.conv`
  and `.recurrent` (`conv_1`, `recurrent_1`, ... for a layer's further states), of a fixed shape `(batch, ...)`. A
  hybrid layer has both its keys/values and its states. A graph with recurrent state takes one token per call
  (`one_token_steps`): the model's recurrent update is a per-token step; its prefill scan is not exported.

`i` is the model's layer index: layers that keep nothing (a hybrid model's MLP-only layers) have no tensors.

Per-layer shapes are read from a real forward pass (right for grouped-query attention and head_dim != hidden / heads,
where config arithmetic is not). Every attention layer is a full (non-sliding) layer: the graph keeps all past
positions, and sliding-window models mask the positions outside their window themselves.

This module needs only the standard library and numpy (torch for dummy tensors), so the runtime uses it without
importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

PAST, PRESENT = "past_key_values", "present"
KINDS = ("key", "value")
STATE_KINDS = ("conv", "recurrent")
SIDES = ("decoder", "encoder")  # self-attention, cross-attention
# the encoder-decoder step's input of encoder states, from which its first step fills the cross-attention cache
ENCODER_STATES = "encoder_hidden_states"
_NAME = re.compile(
    r"^(past_key_values|present)\.(\d+)\.(?:(decoder|encoder)\.)?(key|value|(?:conv|recurrent)(?:_\d+)?)$"
)


@dataclass(frozen=True)
class CacheName:
    direction: str  # PAST or PRESENT
    layer: int
    kind: str  # key, value, or a recurrent state (conv, recurrent, conv_1, ...)
    side: str | None = None  # decoder / encoder for encoder-decoder caches

    def __str__(self) -> str:
        side = f"{self.side}." if self.side else ""
        return f"{self.direction}.{self.layer}.{side}{self.kind}"

    @property
    def is_state(self) -> bool:
        return self.kind not in KINDS


def cache_name(direction: str, layer: int, kind: str, side: str | None = None) -> str:
    return str(CacheName(direction, layer, kind, side))


def state_kind(kind: str, index: int) -> str:
    """The name part of a layer's `index`-th conv or recurrent state."""
    return kind if index == 0 else f"{kind}_{index}"


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


def is_state(name: str) -> bool:
    parsed = parse_name(name)
    return parsed is not None and parsed.is_state


def presents_as_past(outputs: Mapping[str, Any], side: str | None = None) -> dict[str, Any]:
    """A step's `present.*` outputs renamed as the next step's `past_key_values.*` inputs (of one side, if given)."""
    return {
        cache_name(PAST, parsed.layer, parsed.kind, parsed.side): value
        for name, value in outputs.items()
        if (parsed := parse_name(name)) and parsed.direction == PRESENT and (side is None or parsed.side == side)
    }


@dataclass(frozen=True)
class LayerShape:
    """`(kv_heads, head_dim)` of one layer's key and value (None for a layer without attention), and the shape
    without batch of each recurrent state, by name part (`conv`, `recurrent`, ...)."""

    key: tuple[int, int] | None
    value: tuple[int, int] | None
    states: tuple[tuple[str, tuple[int, ...]], ...] = ()


def has_states(layer_shapes: Sequence) -> bool:
    return any(isinstance(layer, LayerShape) and layer.states for layer in layer_shapes)


def past_axes(direction: str, encoder_decoder: bool) -> dict[str, dict[int, str]]:
    """Symbolic axes of one attention layer's cache tensors, by the part of the name after the layer index."""
    if not encoder_decoder:
        axis = "past_sequence" if direction == PAST else "past_sequence + sequence"
        return {kind: {0: "batch", 2: axis} for kind in KINDS}
    decoder_axis = "past_decoder_sequence" if direction == PAST else "past_decoder_sequence + decoder_sequence"
    return {
        f"{side}.{kind}": {0: "batch", 2: axis}
        for side, axis in (("decoder", decoder_axis), ("encoder", "encoder_sequence"))
        for kind in KINDS
    }


def cache_entries(
    direction: str, layers: int | Sequence, encoder_decoder: bool, sides: Sequence[str] = SIDES
) -> dict[str, dict[int, str]]:
    """Name -> axes of every cache tensor, in graph order (per layer: keys and values, decoder side then encoder side,
    then recurrent states). `layers` is a layer count (attention layers only) or the per-layer shapes."""
    entries = {}
    shapes = [None] * layers if isinstance(layers, int) else list(layers)
    for i, shape in enumerate(shapes):
        if isinstance(shape, LayerShape) and shape.key is None:
            attention = {}
        else:
            attention = past_axes(direction, encoder_decoder)
        for part, axes in attention.items():
            if encoder_decoder and part.split(".")[0] not in sides:
                continue
            entries[f"{direction}.{i}.{part}"] = axes
        for kind, _ in shape.states if isinstance(shape, LayerShape) else ():
            entries[cache_name(direction, i, kind)] = {0: "batch"}
    return entries


def flatten(direction: str, layers: Sequence) -> dict[str, Any]:
    """Named tensors for per-layer tuples: (key, value), or (self key, self value, cross key, cross value); or per-layer
    {name part: tensor} (layers with recurrent state); empty for layers that keep nothing."""
    named = {}
    for i, tensors in enumerate(layers):
        if isinstance(tensors, Mapping):
            named.update({cache_name(direction, i, kind): tensor for kind, tensor in tensors.items()})
            continue
        parts = (
            [(None, kind) for kind in KINDS]
            if len(tensors) == 2
            else [(side, kind) for side in SIDES for kind in KINDS]
        )
        for (side, kind), tensor in zip(parts, tensors):
            named[cache_name(direction, i, kind, side)] = tensor
    return named


def dummy_past(batch: int, layer_shapes: Sequence, lengths: Mapping[str | None, int]) -> dict[str, Any]:
    """Seeded random cache tensors `(batch, heads, length, head_dim)` and recurrent states `(batch, ...)`; the same
    values on every call.

    `layer_shapes` holds a `LayerShape` per layer (decoder-only) or a (self, cross) pair of them (encoder-decoder);
    `lengths` maps the side (None for decoder-only) to its sequence length.
    """
    import torch

    generator = torch.Generator().manual_seed(1)
    tensors = {}
    for i, layer in enumerate(layer_shapes):
        sides = [(None, layer)] if isinstance(layer, LayerShape) else list(zip(SIDES, layer))
        for side, shape in sides:
            if shape.key is not None:
                for kind, (heads, dim) in zip(KINDS, (shape.key, shape.value)):
                    tensors[cache_name(PAST, i, kind, side)] = torch.randn(
                        batch, heads, lengths[side], dim, generator=generator
                    )
            for kind, state_shape in shape.states:
                tensors[cache_name(PAST, i, kind)] = torch.randn(batch, *state_shape, generator=generator)
    return tensors


def past_dims(layer_shapes: Sequence) -> dict[str, tuple[int, ...]]:
    """`{name: dims}` of a decoder-only cache, as `empty_past` takes them."""
    dims = {}
    for i, shape in enumerate(layer_shapes):
        if shape.key is not None:
            dims.update(
                {cache_name(PAST, i, kind): kind_dims for kind, kind_dims in zip(KINDS, (shape.key, shape.value))}
            )
        dims.update({cache_name(PAST, i, kind): state_shape for kind, state_shape in shape.states})
    return dims


def empty_past(dims: Mapping[str, tuple[int, ...]], batch: int, dtype) -> dict[str, Any]:
    """The past of a decode's first step, as numpy: zero-length keys and values for `{name: (heads, head_dim)}`, and
    zero recurrent states (the state before any token) for `{name: shape without batch}`."""
    import numpy as np

    return {
        name: np.zeros((batch, *shape) if is_state(name) else (batch, shape[0], 0, shape[1]), dtype)
        for name, shape in dims.items()
    }


def initial_past(presents: Mapping[str, Any]) -> dict[str, Any]:
    """The first step's past for a decode whose later steps return `presents`: the same names and fixed sizes."""
    return {
        name: value[:, :, :0] if not is_state(name) else value * 0 for name, value in presents_as_past(presents).items()
    }
