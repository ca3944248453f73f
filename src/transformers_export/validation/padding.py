"""Padded positions, left out of validation comparisons.

What a model computes at a padded position (its hidden state or logits there, its cached key and value) is never
read: later tokens' attention masks it out, generate() reads the last position, and poolers weight by the mask. For a
padded query that attends to nothing (left padding with an empty past), PyTorch and ONNX Runtime make up different
values (GLM, Cohere, Qwen2-MoE, ... differ only there), so those positions are zeroed on both sides before comparing.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..cache import names as cache

Padding = dict  # output name -> (axis, padded: bool array (batch, length))


def padded_positions(
    outputs: Mapping[str, Mapping[int, str]], mask_axis: str, mask: np.ndarray, shapes: Mapping[str, tuple]
) -> Padding:
    """Per output, the axis that runs along the attention mask and its padded positions. An output axis runs along
    the mask when it has the mask's axis name, or is its last part (`sequence` of `past_sequence + sequence`)."""
    padding = {}
    for name, axes in outputs.items():
        for axis, axis_name in axes.items():
            along = axis_name == mask_axis or mask_axis.endswith("+ " + axis_name)
            shape = shapes.get(name)
            if (
                along
                and shape is not None
                and len(shape) > axis
                and shape[0] == mask.shape[0]
                and shape[axis] <= mask.shape[1]
            ):
                padding[name] = (axis, mask[:, mask.shape[1] - shape[axis] :] == 0)
    return padding


def decoder_padding(outputs: Mapping[str, np.ndarray], mask: np.ndarray) -> Padding:
    """The padding of a decoder step's outputs: `logits` along the new tokens, `present.*` along the whole mask."""
    padding = {}
    for name, value in outputs.items():
        if cache.is_state(name):
            continue  # a recurrent state has no token axis: a padding token left it unchanged, compared as it is
        if cache.parse_name(name) and value.ndim == 4 and value.shape[2] == mask.shape[1]:
            padding[name] = (2, mask == 0)
        elif value.ndim >= 2 and value.shape[0] == mask.shape[0] and value.shape[1] <= mask.shape[1]:
            padding[name] = (1, mask[:, mask.shape[1] - value.shape[1] :] == 0)
    return padding


def without_padding(outputs: Mapping[str, np.ndarray], padding: Padding) -> dict[str, np.ndarray]:
    kept = {}
    for name, value in outputs.items():
        if name in padding and value.ndim > padding[name][0]:
            axis, padded = padding[name]
            if value.shape[axis] == padded.shape[1]:
                shape = [1] * value.ndim
                shape[0], shape[axis] = padded.shape
                value = np.where(padded.reshape(shape), 0, value)
        kept[name] = value
    return kept
