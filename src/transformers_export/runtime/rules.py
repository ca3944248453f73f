"""The generation config's rules for choosing the next token, applied as generate() applies them.

`GenerationSettings` holds them (`arguments.py` makes them from generate()'s arguments and the folder's generation
config); `apply_rules` changes a step's scores in generate()'s order: repetition penalty, n-gram blocking (own and
encoder's), minimum lengths, suppressed tokens, forced BOS/EOS, then a model's own rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

# transformers 5's default length when neither max_length nor max_new_tokens is set anywhere: 20 new tokens
DEFAULT_NEW_TOKENS = 20


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
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    min_p: float | None = None
    num_return_sequences: int = 1
    max_length: int | None = None  # prompt included, as in generate(); max_new_tokens wins when set
    max_new_tokens: int | None = None
    # with neither length set anywhere, generate() makes 20 new tokens, the total capped at the model's positions
    max_positions: int | None = None
    suppress_tokens: list[int] = field(default_factory=list)  # never generated
    begin_suppress_tokens: list[int] = field(default_factory=list)  # not generated first
    # what generate() returns: a `Generate*Output` with the steps' scores and logits when asked, else the tokens
    return_dict_in_generate: bool = False
    output_scores: bool = False
    output_logits: bool = False
    # `on_scores(scores, logits)` of each step, set by generate() when scores or logits are returned
    on_scores: Callable | None = None
    # a model's own rules, `rule(scores, sequences)` (Whisper's timestamps), applied after the others, as its
    # generate() appends its own logits processors
    model_rules: list = field(default_factory=list)

    def new_tokens(self, prompt_length: int) -> int:
        """How many tokens to generate after a prompt of this length (for encoder-decoders: the decoder's)."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        if self.max_length is not None:
            return max(0, self.max_length - prompt_length)
        total = prompt_length + DEFAULT_NEW_TOKENS
        return max(0, (total if self.max_positions is None else min(total, self.max_positions)) - prompt_length)


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


def apply_rules(
    scores: np.ndarray,
    sequences: np.ndarray,
    prompt_length: int,
    max_length: int,
    settings: GenerationSettings,
    encoder_input_ids: np.ndarray | None = None,
) -> None:
    """Change next-token `scores` (one row per sequence) in place; `sequences` are the tokens so far."""
    eos, length = settings.eos_token_id, sequences.shape[1]
    if settings.repetition_penalty != 1.0:
        _penalize_repetitions(scores, sequences, settings.repetition_penalty)
    if settings.no_repeat_ngram_size:
        for row, tokens in enumerate(_banned_by_own_ngrams(sequences, settings.no_repeat_ngram_size)):
            scores[row, list(tokens)] = -np.inf
    if settings.encoder_no_repeat_ngram_size and encoder_input_ids is not None:
        for row, tokens in enumerate(
            _banned_by_encoder_ngrams(encoder_input_ids, sequences, settings.encoder_no_repeat_ngram_size)
        ):
            scores[row, list(tokens)] = -np.inf
    if eos and (length < settings.min_length or length - prompt_length < settings.min_new_tokens):
        scores[:, eos] = -np.inf
    vocab = scores.shape[-1]  # ids outside the vocabulary are ignored, as generate()'s processors ignore them
    if settings.suppress_tokens:
        scores[:, [token for token in settings.suppress_tokens if token < vocab]] = -np.inf
    if settings.begin_suppress_tokens and length == prompt_length:
        scores[:, [token for token in settings.begin_suppress_tokens if token < vocab]] = -np.inf
    if settings.forced_bos_token_id is not None and length == 1:
        scores[:] = -np.inf
        scores[:, settings.forced_bos_token_id] = 0
    if settings.forced_eos_token_id and length == max_length - 1:
        scores[:] = -np.inf
        scores[:, settings.forced_eos_token_id] = 0
    for rule in settings.model_rules:
        rule(scores, sequences)


def warp_for_sampling(scores: np.ndarray, settings: GenerationSettings) -> None:
    """generate()'s sampling warpers, in its order: temperature, top-k, top-p, min-p (removed tokens get -inf)."""
    if settings.temperature is not None and settings.temperature != 1.0:
        scores /= np.float32(settings.temperature)
    if settings.top_k:
        k = min(settings.top_k, scores.shape[-1])
        kth_largest = np.partition(scores, -k, axis=-1)[:, -k][:, None]
        scores[scores < kth_largest] = -np.inf  # ties with the k-th value are kept, as generate() keeps them
    if settings.top_p is not None and settings.top_p < 1.0:
        order = np.argsort(scores, axis=-1, kind="stable")  # ascending
        ascending = np.take_along_axis(scores, order, axis=-1)
        cumulative = np.cumsum(_softmax(ascending), axis=-1)
        remove = cumulative <= 1 - settings.top_p
        remove[:, -1] = False  # the most likely token always stays
        np.put_along_axis(scores, order, np.where(remove, -np.inf, ascending), axis=-1)
    if settings.min_p is not None:
        probs = _softmax(scores)
        remove = probs < settings.min_p * probs.max(axis=-1, keepdims=True)
        remove[np.arange(len(scores)), probs.argmax(axis=-1)] = False
        scores[remove] = -np.inf


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
