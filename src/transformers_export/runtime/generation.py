"""Generation over exported graphs, without PyTorch: greedy and beam search token for token what `generate()` gives,
and sampling with generate()'s warpers (NumPy's random numbers, so not PyTorch's draws).

One loop of each kind serves decoder-only and encoder-decoder models: each model supplies a `step` that takes the
newest tokens and returns next-token logits, keeping its own cache (and, for beams, a `reorder` of that cache). The
generation config's rules are applied by `rules.apply_rules`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .decoder import OnnxDecoder
from .inputs import check_max_new_tokens, check_prompt
from .rules import GenerationSettings, _as_list, _softmax, apply_rules, warp_for_sampling


def greedy_search(
    step: Callable[[np.ndarray], np.ndarray],
    sequences: np.ndarray,
    max_new_tokens: int,
    settings: GenerationSettings,
    encoder_input_ids: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    on_tokens: Callable[[np.ndarray], None] | None = None,
    on_scores: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> np.ndarray:
    """`step(new_tokens) -> logits` is called with the whole prompt first, then with one token per row.

    With `rng`, the next token is sampled (after the sampling warpers) instead of taken as the most likely.
    `on_tokens` gets each step's new tokens (one per row), as a streamer's `put` does; `on_scores` each step's
    scores as generate() returns them (after every rule and warper) and the logits they came from."""
    eos, pad = settings.eos_token_id, settings.pad_token_id
    prompt_length = sequences.shape[1]
    max_length = prompt_length + max_new_tokens
    unfinished = np.ones(sequences.shape[0], dtype=bool)
    new_tokens = sequences
    for _ in range(max_new_tokens):
        logits = step(new_tokens)[:, -1, :]
        scores = logits.astype(np.float32)
        apply_rules(scores, sequences, prompt_length, max_length, settings, encoder_input_ids)
        if rng is not None:
            warp_for_sampling(scores, settings)
        if on_scores is not None:
            on_scores(scores.copy(), logits.astype(np.float32))
        if rng is None:
            next_tokens = scores.argmax(-1)
        else:
            probabilities = _softmax(scores.astype(np.float64))
            next_tokens = np.array([rng.choice(len(row), p=row) for row in probabilities])
        if eos:
            next_tokens = np.where(unfinished, next_tokens, pad)
            unfinished &= ~np.isin(next_tokens, eos)
        sequences = np.concatenate([sequences, next_tokens[:, None]], axis=1)
        if on_tokens is not None:
            on_tokens(next_tokens)
        if eos and not unfinished.any():
            break
        new_tokens = next_tokens[:, None]
    return sequences


def causal_steps(logits_of, input_ids: np.ndarray, mask: np.ndarray, rows: int, past):
    """(step, reorder) for a decoder-only graph, each prompt repeated `rows` times (beams).

    `logits_of(ids, attention_mask, past) -> (logits, next past)` runs the graph: with a cache (`past`, empty at
    first) it gets the newest tokens; without one (`past` None) the whole sequence so far."""
    state = {
        "mask": np.repeat(mask, rows, axis=0),
        "ids": np.repeat(input_ids, rows, axis=0),
        "past": past,
        "first": True,
    }

    def step(new_tokens):
        if not state["first"]:
            state["mask"] = np.concatenate([state["mask"], np.ones((new_tokens.shape[0], 1), np.int64)], axis=1)
            state["ids"] = np.concatenate([state["ids"], new_tokens], axis=1)
        state["first"] = False
        fed = new_tokens if state["past"] is not None else state["ids"]
        logits, state["past"] = logits_of(fed, state["mask"], state["past"])
        return logits

    def reorder(rows_kept):
        if state["past"] is not None:
            state["past"] = {name: value[rows_kept] for name, value in state["past"].items()}
        state["mask"], state["ids"] = state["mask"][rows_kept], state["ids"][rows_kept]

    return step, reorder


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
    max_new_tokens = check_max_new_tokens(max_new_tokens)
    input_ids, mask = check_prompt(input_ids, attention_mask)
    step, _ = causal_steps(decoder.step, input_ids, mask, 1, decoder.empty_past(input_ids.shape[0]))
    return greedy_search(step, input_ids, max_new_tokens, settings)
