"""Greedy generation over an exported decoder, without PyTorch; token-for-token what `generate(do_sample=False)` gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from .decoder import OnnxDecoder


def _as_list(token_ids) -> list[int]:
    if token_ids is None:
        return []
    return list(token_ids) if isinstance(token_ids, Iterable) else [token_ids]


def greedy_generate(
    decoder: OnnxDecoder,
    input_ids: np.ndarray,
    attention_mask: np.ndarray | None = None,
    max_new_tokens: int = 20,
    eos_token_id=None,
    pad_token_id: int | None = None,
) -> np.ndarray:
    """Prompt (left-padded for batches) followed by up to `max_new_tokens` greedy tokens; finished rows get padding."""
    input_ids = np.asarray(input_ids, dtype=np.int64)
    mask = np.ones_like(input_ids) if attention_mask is None else np.asarray(attention_mask, dtype=np.int64)
    eos = _as_list(eos_token_id)
    if eos and pad_token_id is None:
        pad_token_id = eos[0]
    sequences = input_ids
    unfinished = np.ones(input_ids.shape[0], dtype=bool)
    past = decoder.empty_past(input_ids.shape[0])
    step_ids = input_ids
    for _ in range(max_new_tokens):
        logits, past = decoder.step(step_ids, mask, past)
        next_tokens = logits[:, -1, :].argmax(-1)
        if eos:
            next_tokens = np.where(unfinished, next_tokens, pad_token_id)
            unfinished &= ~np.isin(next_tokens, eos)
        sequences = np.concatenate([sequences, next_tokens[:, None]], axis=1)
        if eos and not unfinished.any():
            break
        step_ids = next_tokens[:, None]
        mask = np.concatenate([mask, np.ones((mask.shape[0], 1), dtype=np.int64)], axis=1)
    return sequences


class OnnxModelForCausalLM:
    """An exported `causal-lm-with-past` folder, ready to generate."""

    def __init__(self, folder: str | Path, session_options=None):
        folder = Path(folder)
        self.decoder = OnnxDecoder(folder / "model.onnx", session_options)
        config = json.loads((folder / "config.json").read_text())
        generation = folder / "generation_config.json"
        generation_config = json.loads(generation.read_text()) if generation.is_file() else {}
        self.eos_token_id = generation_config.get("eos_token_id", config.get("eos_token_id"))
        self.pad_token_id = generation_config.get("pad_token_id", config.get("pad_token_id"))

    @classmethod
    def from_pretrained(cls, folder: str | Path, session_options=None) -> "OnnxModelForCausalLM":
        return cls(folder, session_options)

    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20) -> np.ndarray:
        return greedy_generate(
            self.decoder, input_ids, attention_mask, max_new_tokens, self.eos_token_id, self.pad_token_id
        )
