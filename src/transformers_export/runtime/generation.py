"""Greedy generation over exported graphs, without PyTorch; token for token what `generate(do_sample=False)` gives.

One loop serves decoder-only and encoder-decoder models: each supplies a `step` that takes the newest tokens and
returns next-token logits, keeping its own cache. The loop applies the generation-config rules that change greedy
choices (eos/padding of finished rows, forced BOS/EOS, encoder n-gram blocking); sampling and beams are not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .decoder import OnnxDecoder
from .encoder_decoder import OnnxEncoderDecoder


def _as_list(token_ids) -> list[int]:
    if token_ids is None:
        return []
    return list(token_ids) if isinstance(token_ids, Iterable) else [token_ids]


@dataclass
class GenerationSettings:
    eos_token_id: list[int]
    pad_token_id: int | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: list[int] | None = None
    encoder_no_repeat_ngram_size: int = 0
    decoder_start_token_id: int | None = None

    @classmethod
    def from_folder(cls, folder: Path) -> "GenerationSettings":
        """From `generation_config.json` (what generate() reads), else `config.json`."""
        config = json.loads((folder / "config.json").read_text())
        path = folder / "generation_config.json"
        generation = json.loads(path.read_text()) if path.is_file() else {}

        def value(name):
            return generation.get(name, config.get(name))

        eos = _as_list(value("eos_token_id"))
        pad = value("pad_token_id")
        start = value("decoder_start_token_id")
        return cls(
            eos_token_id=eos,
            pad_token_id=pad if pad is not None else (eos[0] if eos else None),
            forced_bos_token_id=value("forced_bos_token_id"),
            forced_eos_token_id=_as_list(value("forced_eos_token_id")) or None,
            encoder_no_repeat_ngram_size=value("encoder_no_repeat_ngram_size") or 0,
            decoder_start_token_id=start if start is not None else value("bos_token_id"),
        )


def _banned_by_encoder_ngrams(encoder_ids: np.ndarray, sequences: np.ndarray, n: int) -> list[set[int]]:
    """Tokens that would repeat an n-gram of the encoder input (generate()'s encoder_no_repeat_ngram_size)."""
    banned = []
    for source, generated in zip(encoder_ids, sequences):
        prefix = tuple(generated[len(generated) - (n - 1) :]) if n > 1 else ()
        tokens = set()
        if len(generated) >= n - 1:
            for start in range(len(source) - n + 1):
                if tuple(source[start : start + n - 1]) == prefix:
                    tokens.add(int(source[start + n - 1]))
        banned.append(tokens)
    return banned


def greedy_search(
    step: Callable[[np.ndarray], np.ndarray],
    sequences: np.ndarray,
    max_new_tokens: int,
    settings: GenerationSettings,
    encoder_input_ids: np.ndarray | None = None,
) -> np.ndarray:
    """`step(new_tokens) -> logits` is called with the whole prompt first, then with one token per row."""
    eos, pad = settings.eos_token_id, settings.pad_token_id
    max_length = sequences.shape[1] + max_new_tokens
    unfinished = np.ones(sequences.shape[0], dtype=bool)
    new_tokens = sequences
    for _ in range(max_new_tokens):
        scores = step(new_tokens)[:, -1, :].astype(np.float32)
        length = sequences.shape[1]
        if settings.encoder_no_repeat_ngram_size and encoder_input_ids is not None:
            for row, tokens in enumerate(_banned_by_encoder_ngrams(encoder_input_ids, sequences, settings.encoder_no_repeat_ngram_size)):
                scores[row, list(tokens)] = -np.inf
        if settings.forced_bos_token_id is not None and length == 1:
            scores[:] = -np.inf
            scores[:, settings.forced_bos_token_id] = 0
        if settings.forced_eos_token_id and length == max_length - 1:
            scores[:] = -np.inf
            scores[:, settings.forced_eos_token_id] = 0
        next_tokens = scores.argmax(-1)
        if eos:
            next_tokens = np.where(unfinished, next_tokens, pad)
            unfinished &= ~np.isin(next_tokens, eos)
        sequences = np.concatenate([sequences, next_tokens[:, None]], axis=1)
        if eos and not unfinished.any():
            break
        new_tokens = next_tokens[:, None]
    return sequences


def greedy_generate(
    decoder: OnnxDecoder,
    input_ids: np.ndarray,
    attention_mask: np.ndarray | None = None,
    max_new_tokens: int = 20,
    eos_token_id=None,
    pad_token_id: int | None = None,
) -> np.ndarray:
    """Greedy continuation of a (left-padded) prompt with an exported decoder-only graph."""
    eos = _as_list(eos_token_id)
    settings = GenerationSettings(eos, pad_token_id if pad_token_id is not None else (eos[0] if eos else None))
    return _generate_causal(decoder, np.asarray(input_ids, dtype=np.int64), attention_mask, max_new_tokens, settings)


def _generate_causal(decoder: OnnxDecoder, input_ids, attention_mask, max_new_tokens, settings) -> np.ndarray:
    state = {
        "mask": np.ones_like(input_ids) if attention_mask is None else np.asarray(attention_mask, dtype=np.int64),
        "past": decoder.empty_past(input_ids.shape[0]),
        "first": True,
    }

    def step(new_tokens):
        if not state["first"]:
            state["mask"] = np.concatenate([state["mask"], np.ones((new_tokens.shape[0], 1), np.int64)], axis=1)
        state["first"] = False
        logits, state["past"] = decoder.step(new_tokens, state["mask"], state["past"])
        return logits

    return greedy_search(step, input_ids, max_new_tokens, settings)


class OnnxModelForCausalLM:
    """An exported `causal-lm-with-past` folder, ready to generate."""

    def __init__(self, folder: str | Path, session_options=None):
        folder = Path(folder)
        self.decoder = OnnxDecoder(folder / "model.onnx", session_options)
        self.settings = GenerationSettings.from_folder(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, session_options=None) -> "OnnxModelForCausalLM":
        return cls(folder, session_options)

    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20) -> np.ndarray:
        input_ids = np.asarray(input_ids, dtype=np.int64)
        return _generate_causal(self.decoder, input_ids, attention_mask, max_new_tokens, self.settings)


class OnnxModelForSeq2SeqLM:
    """An exported `seq2seq-lm-with-past` folder (generation layout), ready to generate."""

    def __init__(self, folder: str | Path, session_options=None):
        folder = Path(folder)
        self.model = OnnxEncoderDecoder(folder, session_options)
        self.settings = GenerationSettings.from_folder(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, session_options=None) -> "OnnxModelForSeq2SeqLM":
        return cls(folder, session_options)

    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20) -> np.ndarray:
        """Decoder tokens, starting with the decoder start token, as `generate()` returns them."""
        input_ids = np.asarray(input_ids, dtype=np.int64)
        mask = np.ones_like(input_ids) if attention_mask is None else np.asarray(attention_mask, dtype=np.int64)
        cross = self.model.encode(input_ids, mask)
        state = {"past": self.model.empty_past(input_ids.shape[0])}

        def step(new_tokens):
            logits, state["past"] = self.model.step(new_tokens, mask, cross, state["past"])
            return logits

        start = np.full((input_ids.shape[0], 1), self.settings.decoder_start_token_id or 0, dtype=np.int64)
        return greedy_search(step, start, max_new_tokens, self.settings, encoder_input_ids=input_ids)
