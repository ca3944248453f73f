"""Checks of what callers pass to the runtime, before ONNX Runtime sees it.

A wrong call raises `ValueError` naming the argument and what was expected, instead of a silent truncation (float
ids), a wrap-around (negative ids) or a broadcast error from deep inside the graph.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..cache import names as cache


def _as_array(name: str, value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name} must be an array of integers, got {type(value).__name__}") from error


def check_ids(name: str, value, vocab_size: int | None = None) -> np.ndarray:
    array = _as_array(name, value)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer token ids, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (batch, sequence), got shape {array.shape}; wrap a single prompt as [ids]"
        )
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds negative token ids (smallest {array.min()})")
    if vocab_size is not None and array.size and array.max() >= vocab_size:
        raise ValueError(f"{name} holds token id {array.max()}, outside the vocabulary of {vocab_size}")
    return array.astype(np.int64)


def check_mask(mask, batch: int, length: int, name: str = "attention_mask") -> np.ndarray:
    array = _as_array(name, mask)
    if array.shape != (batch, length):
        raise ValueError(f"{name} must have shape {(batch, length)}, got {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return array.astype(np.int64)


def check_prompt(input_ids, attention_mask=None, vocab_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask) of a prompt as int64, checked; a missing mask is all ones."""
    ids = check_ids("input_ids", input_ids, vocab_size)
    if ids.shape[1] == 0:
        raise ValueError("input_ids is empty: a prompt needs at least one token")
    if attention_mask is None:
        return ids, np.ones_like(ids)
    mask = check_mask(attention_mask, *ids.shape)
    if not mask.any(axis=1).all():
        raise ValueError("attention_mask has a row of zeros: every prompt needs at least one real token")
    return ids, mask


def check_step(input_ids, attention_mask, past: Mapping[str, np.ndarray], past_dims: Mapping[str, tuple]) -> None:
    """One decoding step: the mask covers past and new tokens, and the cache is of the same batch."""
    ids = np.asarray(input_ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be 2-D (batch, sequence), got shape {ids.shape}")
    batch, length = ids.shape
    past_length = None
    for name, value in past.items():
        if value.shape[0] != batch:
            raise ValueError(f"{name} is for batch {value.shape[0]}, but input_ids has batch {batch}")
        if not cache.is_state(name):  # keys and values: (batch, heads, past_sequence, head_dim)
            past_length = value.shape[2]
        elif tuple(value.shape[1:]) != tuple(past_dims.get(name, value.shape[1:])):
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}, but the graph takes (batch, "
                f"{', '.join(map(str, past_dims[name]))})"
            )
    if past_length is not None:
        check_mask(attention_mask, batch, past_length + length)
    else:  # recurrent state only: the mask covers every token seen, a count the state does not keep
        seen = np.ndim(attention_mask) == 2 and np.shape(attention_mask)[1] >= length
        check_mask(attention_mask, batch, np.shape(attention_mask)[1] if seen else length)


def check_max_new_tokens(value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {value!r}")
    return int(value)
