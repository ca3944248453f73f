"""Checks of what callers pass to the runtime, before ONNX Runtime sees it.

A wrong call raises `ValueError` naming the argument and what was expected, instead of a silent truncation (float
ids), a wrap-around (negative ids) or a broadcast error from deep inside the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..cache import names as cache


NUMPY_TYPES = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(bool)": np.bool_,
}
# what the PyTorch forward assumes when the argument is left out: (the input it follows, its fill)
INPUT_DEFAULTS = {
    "attention_mask": ("input_ids", 1),
    "token_type_ids": ("input_ids", 0),
    "decoder_attention_mask": ("decoder_input_ids", 1),
    "pixel_mask": ("pixel_values", 1),
}


def is_torch(value) -> bool:
    return hasattr(value, "detach") and hasattr(value, "numpy")


def as_numpy(name: str, value, dtype=None) -> np.ndarray:
    if is_torch(value):
        value = value.detach().cpu()
        value = value.float() if str(value.dtype) == "torch.bfloat16" else value
        value = value.numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array or a tensor, got {type(value).__name__}") from error
    if array.dtype == object:
        raise ValueError(f"{name} must be a rectangular array of numbers (ragged rows? pad them)")
    return array.astype(dtype, copy=False) if dtype is not None else array


def like_inputs(array: np.ndarray, torch_inputs: bool):
    if not torch_inputs:
        return array
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


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
    if ids.shape[0] == 0:
        raise ValueError("input_ids has an empty batch: pass at least one prompt")
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


def is_mask(name: str) -> bool:
    return name.endswith("attention_mask") or name in ("pixel_mask", "padding_mask")


def _is_ids(name: str) -> bool:
    return name.endswith("_ids")


@dataclass(frozen=True)
class InputSpec:
    """What a graph input takes: its shape as the graph declares it (ints are fixed sizes), the names of its axes
    from the manifest (inputs sharing a name share the size), whether it holds integers, and the largest value + 1
    where the model has one (the vocabulary for token ids)."""

    name: str
    shape: tuple
    axes: Mapping[int, str]
    integer: bool
    limit: int | None = None


def check_input(spec: InputSpec, array: np.ndarray) -> np.ndarray:
    """One input of `forward()`: its dtype, rank, fixed sizes and value range, each refused with a `ValueError`
    naming it. Returns the array, not yet converted."""
    name = spec.name
    kind = array.dtype.kind
    if kind not in "fiub":
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    if is_mask(name) and array.size and not _only_zeros_and_ones(array):
        raise ValueError(f"{name} must hold only 0 and 1")
    if spec.integer and kind == "f" and not is_mask(name):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.ndim != len(spec.shape):
        axes = ", ".join(spec.axes.get(axis) or "?" for axis in range(len(spec.shape)))
        raise ValueError(f"{name} must be {len(spec.shape)}-D ({axes}), got shape {array.shape}")
    for axis, size in enumerate(spec.shape):
        if isinstance(size, int) and size > 0 and array.shape[axis] != size:
            label = spec.axes.get(axis) or f"axis {axis}"
            raise ValueError(f"{name} must have {label} {size} (the graph is fixed to it), got shape {array.shape}")
    if not array.size:
        return array
    if spec.integer and _is_ids(name) and array.min() < 0:
        raise ValueError(f"{name} holds negative ids (smallest {array.min()})")
    if spec.limit is not None and array.max() >= spec.limit:
        raise ValueError(f"{name} holds {array.max()}, outside the {spec.limit} the model has")
    return array


def check_shared_axes(arrays: Mapping[str, np.ndarray], specs: Mapping[str, InputSpec]) -> None:
    """Inputs whose axes carry one name (the batch, the sequence) must agree on its size."""
    seen: dict[str, tuple[str, int]] = {}
    for name, array in arrays.items():
        spec = specs.get(name)
        if spec is None:
            continue
        for axis, label in spec.axes.items():
            if axis >= array.ndim:
                continue
            size = array.shape[axis]
            first = seen.setdefault(label, (name, size))
            if first[1] != size:
                raise ValueError(f"{name} has {label} {size}, but {first[0]} has {label} {first[1]}")


def _only_zeros_and_ones(array: np.ndarray) -> bool:
    return bool(np.isin(array, (0, 1)).all())
