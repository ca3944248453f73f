"""The quantization arithmetic against its definitions: scales, ranges, and the packed MatMulNBits layout."""

import numpy as np
import pytest

from transformers_export.optimize import numerics


def test_per_column_int8_rounds_within_half_a_step():
    matrix = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    values, scale = numerics.per_column_int8(matrix)
    assert values.dtype == np.int8 and np.abs(values).max() == 127
    assert np.all(np.abs(values * scale - matrix) <= scale / 2 + 1e-7)


def test_per_column_int8_with_a_smaller_range_keeps_it():
    values, scale = numerics.per_column_int8(np.array([[3.0, -1.0], [-6.0, 0.5]]), largest=numerics.MATMUL_INTEGER_LARGEST)
    assert np.abs(values).max(axis=0).tolist() == [64, 64]
    assert scale.tolist() == pytest.approx([6 / 64, 1 / 64])


def test_a_zero_column_gets_a_unit_scale():
    values, scale = numerics.per_column_int8(np.zeros((3, 2)))
    assert scale.tolist() == [1, 1] and not values.any()


def test_per_tensor_uint8_covers_zero_and_the_range():
    table = np.array([[-1.0, 0.0], [2.0, 3.0]], np.float32)
    values, scale, zero_point = numerics.per_tensor_uint8(table)
    assert values.min() == 0 and values.max() == 255
    assert np.allclose((values.astype(np.float32) - zero_point) * scale, table, atol=scale / 2 + 1e-7)


@pytest.mark.parametrize("bits, symmetric", [(4, True), (4, False), (8, True), (8, False)])
def test_blocks_unpack_to_the_weight(bits, symmetric):
    k, n, block = 40, 3, 16  # 40 rows: the last block is zero-padded
    matrix = np.random.default_rng(1).normal(size=(k, n)).astype(np.float32)
    packed, scales, zero_points = numerics.blockwise(matrix, bits, block, symmetric)
    blocks = -(-k // block)
    assert packed.shape == (n, blocks, block * bits // 8) and scales.shape == (n, blocks)
    if bits == 4:
        packed = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(n, blocks, block)
    if zero_points is None:
        zero = np.full((n, blocks), 2 ** (bits - 1))
    elif bits == 4:
        zero = np.stack([zero_points & 0x0F, zero_points >> 4], axis=-1).reshape(n, -1)[:, :blocks]
    else:
        zero = zero_points
    restored = ((packed.astype(np.float32) - zero[..., None]) * scales[..., None]).reshape(n, -1)[:, :k].T
    levels = 2**bits - 1
    assert np.abs(restored - matrix).max() <= (np.abs(matrix).max() * 2 / levels) + 1e-6


def test_smoothing_factors_balance_activation_and_weight():
    factors = numerics.smoothing_factors(np.array([4.0, 1.0]), np.array([1.0, 4.0]), alpha=0.5)
    assert factors.tolist() == pytest.approx([2.0, 0.5])
