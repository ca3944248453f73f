"""The quantization arithmetic, in numpy: what each scheme stores for one float weight."""

from __future__ import annotations

import numpy as np


# The largest weight level of products that run as ONNX Runtime's MatMulInteger (uint8 activations x int8 weights).
# On x86 CPUs without VNNI (AVX2 only) its kernel adds pairs of u8 x s8 products in 16 bits, which saturate unless
# 2 * 255 * largest <= 32767: 64 levels a side is ONNX Runtime's `reduce_range`, exact on every CPU, so a graph
# quantized on one machine gives the same results on any other.
MATMUL_INTEGER_LARGEST = 64


# Weights are quantized this many rows or columns at a time: the intermediates of a whole 128k-token LM head are
# several GB each, those of a slice a few hundred MB; every row and column is quantized on its own, so slicing does
# not change a bit.
SLICE = 4096


def per_column_int8(matrix: np.ndarray, largest: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per output column (`max |W[:, n]| / largest`)."""
    if matrix.shape[1] > SLICE:
        parts = [
            per_column_int8(matrix[:, start : start + SLICE], largest) for start in range(0, matrix.shape[1], SLICE)
        ]
        return np.concatenate([values for values, _ in parts], axis=1), np.concatenate([scale for _, scale in parts])
    absmax = np.abs(matrix).max(axis=0).astype(np.float32)
    scale = np.where(absmax > 0, absmax / largest, 1).astype(np.float32)
    return np.clip(np.round(matrix / scale), -largest, largest).astype(np.int8), scale


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


def blockwise(
    matrix: np.ndarray, bits: int, block_size: int, symmetric: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """ONNX Runtime's `MatMulNBits` layout of a weight `W (K, N)`: each column cut into blocks of `block_size` rows
    along K (zero-padded), each block with its own scale. Returns the packed blocks, uint8
    `(N, blocks, block_size * bits / 8)` with two 4-bit values a byte, low nibble first; the scales `(N, blocks)`; and
    the zero points, None when symmetric (the kernel's default `2**(bits - 1)`), else uint8 `(N, blocks)` for 8 bits
    or `(N, ceil(blocks / 2))` packed like the values for 4 bits. Asymmetric blocks spend every level on the block's
    own [min, max] instead of [-max|W|, max|W|]."""
    parts = [
        _blockwise(matrix[:, start : start + SLICE], bits, block_size, symmetric)
        for start in range(0, matrix.shape[1], SLICE)
    ]
    zero_points = None if symmetric else np.concatenate([part[2] for part in parts])
    return np.concatenate([part[0] for part in parts]), np.concatenate([part[1] for part in parts]), zero_points


def _blockwise(matrix: np.ndarray, bits: int, block_size: int, symmetric: bool):
    rows, cols = matrix.shape
    blocks = -(-rows // block_size)
    # blocks run along K, which is the inner axis of the weight as torch stores it (N, K): `matrix` is usually a view
    # of that transposed, so its transpose is read in memory order and, unpadded, reshaped without a copy
    columns = matrix.T
    if rows % block_size:
        columns = np.pad(columns, ((0, 0), (0, blocks * block_size - rows)))
    by_block = np.ascontiguousarray(columns, dtype=np.float32).reshape(cols, blocks, block_size)
    levels = 2**bits - 1
    if symmetric:
        largest = 2 ** (bits - 1) - 1
        absmax = np.abs(by_block).max(axis=2)
        scale = np.where(absmax > 0, absmax / largest, 1).astype(np.float32)
        zero = np.full(scale.shape, 2 ** (bits - 1), np.float32)
    else:
        low, high = np.minimum(by_block.min(axis=2), 0), np.maximum(by_block.max(axis=2), 0)
        scale = np.where(high > low, (high - low) / levels, 1).astype(np.float32)
        zero = np.clip(np.round(-low / scale), 0, levels)
    levels_of = by_block / scale[..., None]  # in place from here: each step would otherwise allocate the slice again
    np.round(levels_of, out=levels_of)
    levels_of += zero[..., None]
    np.clip(levels_of, 0, levels, out=levels_of)
    values = levels_of.astype(np.uint8)
    zero_points = None if symmetric else zero.astype(np.uint8)
    if bits == 4:
        values = values[..., 0::2] | (values[..., 1::2] << 4)
        if zero_points is not None:
            zero_points = np.pad(zero_points, ((0, 0), (0, blocks % 2)))
            zero_points = zero_points[:, 0::2] | (zero_points[:, 1::2] << 4)
    return np.ascontiguousarray(values), scale, zero_points


def smoothing_factors(activation_absmax: np.ndarray, weight_absmax: np.ndarray, alpha: float) -> np.ndarray:
    """SmoothQuant's per-input-channel factors `s = a^alpha / w^(1 - alpha)`: the activation is divided by `s` and the
    weight rows multiplied by it, moving the activation's outlier channels into the weights, which are quantized per
    column and absorb them."""
    activation = np.maximum(activation_absmax, 1e-5)
    weight = np.maximum(weight_absmax, 1e-5)
    factors = activation**alpha / weight ** (1 - alpha)
    return np.clip(factors, 1e-3, 1e3).astype(np.float32)
