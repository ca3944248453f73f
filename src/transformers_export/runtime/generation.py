"""Generation over exported graphs, without PyTorch: greedy and beam search token for token what `generate()` gives,
and sampling with generate()'s warpers (NumPy's random numbers, so not PyTorch's draws).

One loop of each kind serves decoder-only and encoder-decoder models: each model supplies a `step` that takes the
newest tokens and returns next-token logits, keeping its own cache (and, for beams, a `reorder` of that cache). The
generation config's rules are applied by `rules.apply_rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..manifest import read_manifest
from .beam_search import beam_search
from .decoder import OnnxDecoder
from .encoder_decoder import OnnxEncoderDecoder
from .inputs import check_max_new_tokens, check_prompt
from .rules import GenerationSettings, _as_list, _softmax, apply_rules, warp_for_sampling


def greedy_search(
    step: Callable[[np.ndarray], np.ndarray],
    sequences: np.ndarray,
    max_new_tokens: int,
    settings: GenerationSettings,
    encoder_input_ids: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """`step(new_tokens) -> logits` is called with the whole prompt first, then with one token per row.

    With `rng`, the next token is sampled (after the sampling warpers) instead of taken as the most likely."""
    eos, pad = settings.eos_token_id, settings.pad_token_id
    prompt_length = sequences.shape[1]
    max_length = prompt_length + max_new_tokens
    unfinished = np.ones(sequences.shape[0], dtype=bool)
    new_tokens = sequences
    for _ in range(max_new_tokens):
        scores = step(new_tokens)[:, -1, :].astype(np.float32)
        apply_rules(scores, sequences, prompt_length, max_length, settings, encoder_input_ids)
        if rng is None:
            next_tokens = scores.argmax(-1)
        else:
            warp_for_sampling(scores, settings)
            probabilities = _softmax(scores.astype(np.float64))
            next_tokens = np.array([rng.choice(len(row), p=row) for row in probabilities])
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
    return _generate_causal(decoder, input_ids, attention_mask, max_new_tokens, settings)


def _generate_causal(decoder: OnnxDecoder, input_ids, attention_mask, max_new_tokens, settings, num_beams=1, rng=None) -> np.ndarray:
    max_new_tokens = check_max_new_tokens(max_new_tokens)
    input_ids, mask = check_prompt(input_ids, attention_mask)
    state = {"mask": np.repeat(mask, num_beams, axis=0), "past": decoder.empty_past(input_ids.shape[0] * num_beams), "first": True}

    def step(new_tokens):
        if not state["first"]:
            state["mask"] = np.concatenate([state["mask"], np.ones((new_tokens.shape[0], 1), np.int64)], axis=1)
        state["first"] = False
        logits, state["past"] = decoder.step(new_tokens, state["mask"], state["past"])
        return logits

    def reorder(rows):
        state["past"] = {name: value[rows] for name, value in state["past"].items()}
        state["mask"] = state["mask"][rows]

    if num_beams > 1:
        return beam_search(step, reorder, input_ids, num_beams, max_new_tokens, settings)
    return greedy_search(step, input_ids, max_new_tokens, settings, rng=rng)


def _strategy(num_beams: int | None, do_sample: bool | None, seed: int | None, settings: GenerationSettings):
    """(beams, random generator or None): the call's choice, else the generation config's."""
    beams = settings.num_beams if num_beams is None else num_beams
    sample = settings.do_sample if do_sample is None else do_sample
    if beams < 1:
        raise ValueError(f"num_beams must be at least 1, got {beams}")
    if sample and beams > 1:
        raise ValueError("sampling with beams is not supported; pass num_beams=1 or do_sample=False")
    return beams, (np.random.default_rng(seed) if sample else None)


class OnnxModelForCausalLM:
    """An exported `causal-lm-with-past` folder, ready to generate."""

    def __init__(self, folder: str | Path, session_options=None):
        folder = Path(folder)
        manifest = read_manifest(folder)
        self.decoder = OnnxDecoder(manifest.path("model"), session_options)
        self.settings = GenerationSettings.from_folder(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, session_options=None) -> "OnnxModelForCausalLM":
        return cls(folder, session_options)

    def generate(
        self, input_ids, attention_mask=None, max_new_tokens: int = 20, num_beams: int | None = None,
        do_sample: bool | None = None, seed: int | None = None,
    ) -> np.ndarray:
        """Prompt and continuation: greedy, beam search (`num_beams`) or sampling (`do_sample`, reproducible with
        `seed`); unset options come from the generation config."""
        beams, rng = _strategy(num_beams, do_sample, seed, self.settings)
        return _generate_causal(self.decoder, input_ids, attention_mask, max_new_tokens, self.settings, beams, rng)


class OnnxModelForSeq2SeqLM:
    """An exported `seq2seq-lm-with-past` folder (generation layout), ready to generate."""

    def __init__(self, folder: str | Path, session_options=None):
        folder = Path(folder)
        self.model = OnnxEncoderDecoder(folder, session_options)
        self.settings = GenerationSettings.from_folder(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, session_options=None) -> "OnnxModelForSeq2SeqLM":
        return cls(folder, session_options)

    def generate(
        self, input_ids, attention_mask=None, max_new_tokens: int = 20, num_beams: int | None = None,
        do_sample: bool | None = None, seed: int | None = None,
    ) -> np.ndarray:
        """Decoder tokens, starting with the decoder start token, as `generate()` returns them: greedy, beam search
        (`num_beams`) or sampling (`do_sample`, reproducible with `seed`); unset options come from the generation
        config."""
        max_new_tokens = check_max_new_tokens(max_new_tokens)
        input_ids, mask = check_prompt(input_ids, attention_mask)
        beams, rng = _strategy(num_beams, do_sample, seed, self.settings)
        cross = self.model.encode(input_ids, mask)
        # every beam of an input shares its encoder states: the cache is computed once and repeated
        mask = np.repeat(mask, beams, axis=0)
        cross = {name: np.repeat(value, beams, axis=0) for name, value in cross.items()}
        state = {"past": self.model.empty_past(input_ids.shape[0] * beams)}

        def step(new_tokens):
            logits, state["past"] = self.model.step(new_tokens, mask, cross, state["past"])
            return logits

        def reorder(rows):
            state["past"] = {name: value[rows] for name, value in state["past"].items()}

        start = np.full((input_ids.shape[0], 1), self.settings.decoder_start_token_id or 0, dtype=np.int64)
        encoder_ids = np.repeat(input_ids, beams, axis=0)
        if beams > 1:
            return beam_search(step, reorder, start, beams, max_new_tokens, self.settings, encoder_input_ids=encoder_ids)
        return greedy_search(step, start, max_new_tokens, self.settings, encoder_input_ids=encoder_ids, rng=rng)
