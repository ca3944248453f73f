"""Greedy generation over exported graphs, without PyTorch; token for token what `generate(do_sample=False)` gives.

One loop serves decoder-only and encoder-decoder models: each supplies a `step` that takes the newest tokens and
returns next-token logits, keeping its own cache. The loop applies the generation-config rules that change greedy
choices, in generate()'s order: repetition penalty, n-gram blocking (own and encoder's), minimum lengths, forced
BOS/EOS, then eos/padding of finished rows. Sampling and beam search are not done; a checkpoint whose generation
config asks for them (or for another rule) gets a warning, since its generate() would choose differently.
"""

from __future__ import annotations

import json
import warnings
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
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_length: int = 0
    min_new_tokens: int = 0

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
        _warn_about_unapplied(generation, folder)
        return cls(
            eos_token_id=eos,
            pad_token_id=pad if pad is not None else (eos[0] if eos else None),
            forced_bos_token_id=value("forced_bos_token_id"),
            forced_eos_token_id=_as_list(value("forced_eos_token_id")) or None,
            encoder_no_repeat_ngram_size=value("encoder_no_repeat_ngram_size") or 0,
            decoder_start_token_id=start if start is not None else value("bos_token_id"),
            repetition_penalty=generation.get("repetition_penalty") or 1.0,
            no_repeat_ngram_size=generation.get("no_repeat_ngram_size") or 0,
            min_length=generation.get("min_length") or 0,
            min_new_tokens=generation.get("min_new_tokens") or 0,
        )


# generation-config entries that change what generate() returns and that this greedy loop does not apply, with the
# value at which they do nothing
_UNAPPLIED = {
    "num_beams": 1, "do_sample": False, "encoder_repetition_penalty": 1.0, "bad_words_ids": None,
    "sequence_bias": None, "suppress_tokens": None, "begin_suppress_tokens": None,
    "exponential_decay_length_penalty": None, "renormalize_logits": False, "penalty_alpha": None,
}


def _warn_about_unapplied(generation: dict, folder: Path) -> None:
    unapplied = {
        name: generation[name] for name, neutral in _UNAPPLIED.items() if generation.get(name) not in (None, neutral)
    }
    if unapplied:
        settings = ", ".join(f"{name}={value!r}" for name, value in unapplied.items())
        warnings.warn(
            f"{folder / 'generation_config.json'} sets {settings}, which this greedy runtime does not apply; "
            "its tokens will differ from generate() with that configuration",
            stacklevel=3,
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


def _banned_by_own_ngrams(sequences: np.ndarray, n: int) -> list[set[int]]:
    """Tokens that would repeat an n-gram already in the sequence (generate()'s no_repeat_ngram_size)."""
    banned = []
    for generated in sequences:
        tokens = set()
        if len(generated) + 1 >= n:
            prefix = tuple(generated[len(generated) - (n - 1) :]) if n > 1 else ()
            for start in range(len(generated) - n + 1):
                if tuple(generated[start : start + n - 1]) == prefix:
                    tokens.add(int(generated[start + n - 1]))
        banned.append(tokens)
    return banned


def _penalize_repetitions(scores: np.ndarray, sequences: np.ndarray, penalty: float) -> None:
    """generate()'s repetition_penalty: every token already in the sequence (prompt included) is made less likely."""
    for row, generated in enumerate(sequences):
        tokens = np.unique(generated)
        values = scores[row, tokens]
        scores[row, tokens] = np.where(values < 0, values * penalty, values / penalty)


def greedy_search(
    step: Callable[[np.ndarray], np.ndarray],
    sequences: np.ndarray,
    max_new_tokens: int,
    settings: GenerationSettings,
    encoder_input_ids: np.ndarray | None = None,
) -> np.ndarray:
    """`step(new_tokens) -> logits` is called with the whole prompt first, then with one token per row."""
    eos, pad = settings.eos_token_id, settings.pad_token_id
    prompt_length = sequences.shape[1]
    max_length = prompt_length + max_new_tokens
    unfinished = np.ones(sequences.shape[0], dtype=bool)
    new_tokens = sequences
    for _ in range(max_new_tokens):
        scores = step(new_tokens)[:, -1, :].astype(np.float32)
        length = sequences.shape[1]
        if settings.repetition_penalty != 1.0:
            _penalize_repetitions(scores, sequences, settings.repetition_penalty)
        if settings.no_repeat_ngram_size:
            for row, tokens in enumerate(_banned_by_own_ngrams(sequences, settings.no_repeat_ngram_size)):
                scores[row, list(tokens)] = -np.inf
        if settings.encoder_no_repeat_ngram_size and encoder_input_ids is not None:
            for row, tokens in enumerate(_banned_by_encoder_ngrams(encoder_input_ids, sequences, settings.encoder_no_repeat_ngram_size)):
                scores[row, list(tokens)] = -np.inf
        if eos and (length < settings.min_length or length - prompt_length < settings.min_new_tokens):
            scores[:, eos] = -np.inf
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
