"""(time, height, width) rotary positions of Qwen2-VL-style prompts, as the model's `get_rope_index` computes them.

Text tokens count up by one in all three rows. An image's tokens (one per merged patch, row by row) take the
position where the image starts in the time row, and that start plus their patch row / column in the height / width
rows; the text after the image continues from the start plus the larger side of the grid. Padding is skipped (its
positions are 0). Each later token's position is its text position plus the row's `delta` (the prompt's last
position + 1 - its unpadded length), as `generate()` continues them.
"""

from __future__ import annotations

import numpy as np


def prompt_positions(input_ids: np.ndarray, attention_mask: np.ndarray, image_token_id: int, grid: tuple[int, int]):
    """`(positions (3, batch, sequence), deltas (batch,))` for left-padded prompts whose images all have `grid`
    (height, width) merged patches."""
    batch, length = input_ids.shape
    positions = np.zeros((3, batch, length), np.int64)
    deltas = np.zeros(batch, np.int64)
    height, width = grid
    image_rows, image_columns = (
        index.ravel() for index in np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    )
    for row in range(batch):
        kept = attention_mask[row] == 1
        tokens = input_ids[row][kept]
        pieces, start, index = [], 0, 0
        while index < len(tokens):
            if tokens[index] == image_token_id:
                count = min(height * width, len(tokens) - index)
                pieces.append(
                    np.stack([np.full(count, start), image_rows[:count] + start, image_columns[:count] + start])
                )
                start, index = start + max(height, width), index + count
            else:
                end = index
                while end < len(tokens) and tokens[end] != image_token_id:
                    end += 1
                pieces.append(np.broadcast_to(np.arange(end - index) + start, (3, end - index)))
                start, index = start + end - index, end
        if pieces:
            row_positions = np.concatenate(pieces, axis=1)
            positions[:, row, kept] = row_positions
            deltas[row] = row_positions.max() + 1 - len(tokens)
    return positions, deltas


def step_positions(attention_mask: np.ndarray, deltas: np.ndarray, length: int) -> np.ndarray:
    """Positions `(3, batch, length)` of the last `length` tokens after the prompt."""
    text = attention_mask.astype(np.int64).cumsum(-1)[:, -length:] - 1
    return np.broadcast_to(text + deltas[:, None], (3, *text.shape)).copy()
