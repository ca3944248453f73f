"""The cross-attention cache of the merged encoder-decoder step (`layouts/generation.py`): extended at every step.

transformers uses a non-empty cross-attention cache as is and projects the encoder states only into an empty one.
That choice is Python control flow on a shape, which a trace would freeze to one branch; here each layer always
projects the encoder states it is given, appends them and keeps the first `length` positions (the encoder's), so
one traced step serves both the first step (empty cache) and the later ones (full cache).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from .objects import cache_from_named


def extending_cross_cache(named: Mapping[str, Any], length):
    """An `EncoderDecoderCache` from flat past tensors (with sides) whose cross-attention part is extended, never
    used as is."""
    cache = cache_from_named(named)
    for layer in cache.cross_attention_cache.layers:
        layer.__class__ = _bounded_layer_class()
        layer.bound = length
    for index in cache.is_updated:
        cache.is_updated[index] = False
    return cache


@functools.cache
def _bounded_layer_class():
    from transformers.cache_utils import DynamicLayer

    class BoundedLayer(DynamicLayer):
        """A cache layer that appends and keeps its first `bound` positions."""

        bound: Any

        def update(self, key_states, value_states, *args, **kwargs):
            keys, values = super().update(key_states, value_states, *args, **kwargs)
            self.keys, self.values = keys[:, :, : self.bound], values[:, :, : self.bound]
            return self.keys, self.values

    return BoundedLayer
