"""The quantization arithmetic, in numpy: what each scheme stores for one float weight."""

from __future__ import annotations

import numpy as np


def per_column_int8(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per output column (`max |W[:, n]| / 127`)."""
    absmax = np.abs(matrix).max(axis=0).astype(np.float32)
    scale = np.where(absmax > 0, absmax / 127, 1).astype(np.float32)
    return np.clip(np.round(matrix / scale), -127, 127).astype(np.int8), scale


def per_tensor_uint8(table: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """Asymmetric uint8 with one scale and zero point for the whole tensor."""
    low, high = min(float(table.min()), 0.0), max(float(table.max()), 0.0)
    scale = np.float32((high - low) / 255 if high > low else 1.0)
    zero_point = np.uint8(round(-low / scale))
    return np.clip(np.round(table / scale) + zero_point, 0, 255).astype(np.uint8), scale, zero_point


def per_row_int8(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per row (an embedding table's token), scales shaped (rows, 1)."""
    quantized, scale = per_column_int8(table.T)
    return np.ascontiguousarray(quantized.T), scale[:, None]


def blockwise(matrix: np.ndarray, bits: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """ONNX Runtime's `MatMulNBits` layout of a weight `W (K, N)`: each column cut into blocks of `block_size` rows
    along K (zero-padded), each block with its own symmetric scale. Returns the packed blocks, uint8
    `(N, blocks, block_size * bits / 8)`, two 4-bit values a byte low nibble first, stored with the default zero point
    `2**(bits - 1)`; and the scales `(N, blocks)`."""
    rows, cols = matrix.shape
    blocks = -(-rows // block_size)
    padded = np.zeros((blocks * block_size, cols), np.float32)
    padded[:rows] = matrix
    by_block = padded.T.reshape(cols, blocks, block_size)
    largest = 2 ** (bits - 1) - 1
    absmax = np.abs(by_block).max(axis=2)
    scale = np.where(absmax > 0, absmax / largest, 1).astype(np.float32)
    values = np.clip(np.round(by_block / scale[..., None]), -largest - 1, largest).astype(np.int16) + 2 ** (bits - 1)
    values = values.astype(np.uint8)
    if bits == 4:
        values = values[..., 0::2] | (values[..., 1::2] << 4)
    return np.ascontiguousarray(values), scale


def smoothing_factors(activation_absmax: np.ndarray, weight_absmax: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's per-input-channel factors `s = a^alpha / w^(1 - alpha)`: the activation is divided by `s` and the
    weight rows multiplied by it, moving the activation's outlier channels into the weights, which are quantized per
    column and absorb them."""
    activation = np.maximum(activation_absmax, 1e-5)
    weight = np.maximum(weight_absmax, 1e-5)
    factors = activation**alpha / weight ** (1 - alpha)
    return np.clip(factors, 1e-3, 1e3).astype(np.float32)
