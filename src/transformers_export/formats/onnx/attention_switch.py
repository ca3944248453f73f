"""Tracing a model with another attention implementation (lean_attention.py, fused_attention.py), put back after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def attention_implementation(model, implementation: str) -> Iterator[bool]:
    """`model` (one with `set_attn_implementation`) runs with `implementation`; yields whether transformers switched
    to it (some models' attention cannot be switched). The previous implementation is always put back."""
    previous = model.config._attn_implementation
    try:
        try:
            model.set_attn_implementation(implementation)
        except (ValueError, ImportError):  # a model whose attention transformers cannot switch
            pass
        yield model.config._attn_implementation == implementation
    finally:
        if model.config._attn_implementation != previous:
            model.set_attn_implementation(previous)
