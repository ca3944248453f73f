"""Beam search over an exported graph, as transformers 5's `generate(num_beams=n)` does it.

Per input, `num_beams` running hypotheses advance together (rows `i * num_beams ... (i + 1) * num_beams - 1` of
every batch the graph sees). Each step scores `2 * num_beams` continuations (more with several end tokens): those
ending in an end token, or reaching the maximum length, compete for the `num_beams` finished slots with a length
penalty; the best others keep running, and the graph's cache is reordered to follow them. The search stops when no
running hypothesis can still beat the worst finished one (generate()'s heuristic, `early_stopping`), when all
finished slots are filled and `early_stopping=True`, or at the maximum length. Scores are float32 and ties break
towards the lower index, as in PyTorch.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .rules import GenerationSettings, apply_rules

_EXCLUDED = np.float32(-1.0e9)  # generate()'s "cannot be chosen" offset (not -inf: sums must stay finite)


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values per row, largest first, lower index first among equals."""
    if values.shape[1] > 4 * k:  # rows of beams x vocabulary: select first, sort only the selected (like topk)
        selected = np.argpartition(-values, k - 1, axis=1)[:, :k]
        order = np.lexsort((selected, -np.take_along_axis(values, selected, axis=1)), axis=1)
        return np.take_along_axis(selected, order, axis=1)
    return np.argsort(-values, axis=1, kind="stable")[:, :k]


def _gather(array: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """`array[b, indices[b, j], ...]` for every b, j."""
    return np.take_along_axis(array, indices.reshape(indices.shape + (1,) * (array.ndim - 2)), axis=1)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


_FIRST_ALLOCATION = 256  # generated positions allocated before the first growth


def beam_search(
    step: Callable[[np.ndarray], np.ndarray],
    reorder: Callable[[np.ndarray], None],
    prompt: np.ndarray,
    num_beams: int,
    max_new_tokens: int,
    settings: GenerationSettings,
    encoder_input_ids: np.ndarray | None = None,
    num_return_sequences: int = 1,
) -> np.ndarray:
    """The `num_return_sequences` best hypotheses per row of `prompt` (`batch, prompt_length`), prompt included, as
    `batch * num_return_sequences` rows (padded to the longest).

    `step(new_tokens)` gets `batch * num_beams` rows: the whole prompt first, then one token per row, and returns
    logits; `reorder(rows)` makes row j of the graph's cache a copy of row `rows[j]` before the next step.
    `encoder_input_ids`, if given, has one row per beam as well.
    """
    if max_new_tokens <= 0:
        return np.repeat(prompt, num_return_sequences, axis=0)
    eos, pad = settings.eos_token_id, settings.pad_token_id
    batch, prompt_length = prompt.shape
    max_length = prompt_length + max_new_tokens
    keep = max(2, 1 + len(eos)) * num_beams
    fill = (pad or eos[0]) if eos else -1  # generate()'s filler after a finished hypothesis's end

    # the buffers grow as the hypotheses do: max_new_tokens bounds the search, not what is allocated up front
    capacity = min(max_length, prompt_length + _FIRST_ALLOCATION)
    running = np.full((batch, num_beams, capacity), fill, dtype=np.int64)
    running[:, :, :prompt_length] = prompt[:, None, :]
    finished = running.copy()
    running_scores = np.zeros((batch, num_beams), np.float32)
    running_scores[:, 1:] = _EXCLUDED  # all beams start equal; only the first may be extended at the first step
    finished_scores = np.full((batch, num_beams), _EXCLUDED, np.float32)
    is_finished = np.zeros((batch, num_beams), dtype=bool)
    may_improve = np.ones((batch, 1), dtype=bool)
    # per hypothesis and generated position, the flat row it came from; -1 where nothing was generated
    running_origin = np.full((batch, num_beams, capacity - prompt_length), -1, dtype=np.int64)
    finished_origin = running_origin.copy()
    is_top_beam = np.arange(keep) < num_beams
    batch_offset = np.arange(batch)[:, None] * num_beams

    length = prompt_length
    new_tokens = np.repeat(prompt, num_beams, axis=0)
    while True:
        if length >= running.shape[2]:
            capacity = min(max_length, prompt_length + 2 * (running.shape[2] - prompt_length))
            running, finished = _grown(running, capacity, fill), _grown(finished, capacity, fill)
            running_origin = _grown(running_origin, capacity - prompt_length, -1)
            finished_origin = _grown(finished_origin, capacity - prompt_length, -1)
        flat_sequences = running[:, :, :length].reshape(batch * num_beams, length)
        log_probs = _log_softmax(step(new_tokens)[:, -1, :].astype(np.float32))
        apply_rules(log_probs, flat_sequences, prompt_length, max_length, settings, encoder_input_ids)
        vocab = log_probs.shape[-1]
        candidates = (log_probs.reshape(batch, num_beams, vocab) + running_scores[:, :, None]).reshape(batch, -1)
        top = _top(candidates, keep)
        top_scores = np.take_along_axis(candidates, top, axis=1)
        source_beam, token = top // vocab, top % vocab
        top_sequences = _gather(running, source_beam)
        top_sequences[:, :, length] = token
        top_origin = _gather(running_origin, source_beam)
        top_origin[:, :, length - prompt_length] = source_beam + batch_offset
        ends = np.isin(token, eos) | (length + 1 >= max_length)

        # the best continuations that did not end keep running
        running_candidates = top_scores + ends.astype(np.float32) * _EXCLUDED
        chosen = _top(running_candidates, num_beams)
        running = _gather(top_sequences, chosen)
        running_scores = np.take_along_axis(running_candidates, chosen, axis=1)
        running_origin = _gather(top_origin, chosen)

        # the ones that ended (among the first num_beams) compete for the finished slots, length-penalised
        just_finished = ends & is_top_beam[None, :]
        penalised = top_scores / np.float32((length + 1 - prompt_length) ** settings.length_penalty)
        slots_full = is_finished.all(axis=1, keepdims=True) & (settings.early_stopping is True)
        penalised = penalised + slots_full.astype(np.float32) * _EXCLUDED
        penalised = penalised + (~may_improve).astype(np.float32) * _EXCLUDED
        penalised = penalised + (~just_finished).astype(np.float32) * _EXCLUDED
        merged_scores = np.concatenate([finished_scores, penalised], axis=1)
        best = _top(merged_scores, num_beams)
        finished = _gather(np.concatenate([finished, top_sequences], axis=1), best)
        finished_scores = np.take_along_axis(merged_scores, best, axis=1)
        finished_origin = _gather(np.concatenate([finished_origin, top_origin], axis=1), best)
        is_finished = np.take_along_axis(np.concatenate([is_finished, just_finished], axis=1), best, axis=1)

        reorder(running_origin[:, :, length - prompt_length].reshape(-1))
        length += 1
        may_improve = may_improve & _can_improve(
            running_scores, finished_scores, is_finished, length, prompt_length, max_length, settings
        )
        all_slots_final = is_finished.all() and settings.early_stopping is True
        if not may_improve.any() or all_slots_final or ends.all():
            break
        new_tokens = running[:, :, length - 1 : length].reshape(batch * num_beams, 1)

    # finished hypotheses are kept best first; the output is cut after the longest generated part returned
    returned_origin = finished_origin[:, :num_return_sequences]
    generated = int((returned_origin != -1).sum(axis=2).max())
    return finished[:, :num_return_sequences, : prompt_length + generated].reshape(batch * num_return_sequences, -1)


def _grown(array: np.ndarray, size: int, fill: int) -> np.ndarray:
    """`array` with its last axis extended to `size`, the new part filled with `fill`."""
    extension = np.full(array.shape[:-1] + (size - array.shape[-1],), fill, dtype=array.dtype)
    return np.concatenate([array, extension], axis=-1)


def _can_improve(
    running_scores, finished_scores, is_finished, length, prompt_length, max_length, settings
) -> np.ndarray:
    """generate()'s early-stop heuristic: can the best running hypothesis still beat the worst finished one?"""
    if settings.early_stopping == "never" and settings.length_penalty > 0.0:
        best_length = max_length - prompt_length
    else:
        best_length = length - prompt_length
    best_possible = running_scores[:, :1] / np.float32(best_length**settings.length_penalty)
    worst_finished = np.where(is_finished, finished_scores.min(axis=1, keepdims=True), _EXCLUDED)
    return (best_possible > worst_finished).any(axis=-1, keepdims=True)
