"""Whisper's `generate()` conventions, reproduced so that the runtime's tokens equal PyTorch's: the decoder prompt
(start of transcript, language, task, no-timestamps), the returned tokens without that prompt, and the timestamp
grammar as a model rule."""

from __future__ import annotations

import numpy as np

# Whisper's generation-config entries that only shape the prompt (or that the runtime refuses when set to a value
# that needs timestamps)
WHISPER_PROMPT_SETTINGS = frozenset(
    {
        "lang_to_id",
        "task_to_id",
        "language",
        "task",
        "is_multilingual",
        "forced_decoder_ids",
        "no_timestamps_token_id",
        "return_timestamps",
        "alignment_heads",
        "max_initial_timestamp_index",
        "prev_sot_token_id",
        "prompt_condition_type",
    }
)


def with_language_and_task(folder_config, call_config, language, task):
    """The generation config with Whisper's `language` and `task` set as its generate() sets them."""
    import copy

    config = copy.deepcopy(call_config if call_config is not None else folder_config)
    for name in WHISPER_PROMPT_SETTINGS:
        if getattr(config, name, None) is None and getattr(folder_config, name, None) is not None:
            setattr(config, name, getattr(folder_config, name))
    if language is not None:
        if not getattr(config, "is_multilingual", True):
            raise ValueError("this Whisper model is English-only: it takes no language=")
        config.language = language
    if task is not None:
        if not getattr(config, "is_multilingual", True):
            raise ValueError("this Whisper model is English-only: it takes no task=")
        config.task = task
    return config


def _language_id(config, language: str) -> int:
    from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

    language = language.lower()
    token = language if language in config.lang_to_id else None
    if token is None and language in TO_LANGUAGE_CODE:
        token = f"<|{TO_LANGUAGE_CODE[language]}|>"
    elif token is None and language in TO_LANGUAGE_CODE.values():
        token = f"<|{language}|>"
    if token is None or token not in config.lang_to_id:
        raise ValueError(f"unsupported language {language!r}: this model knows {', '.join(sorted(config.lang_to_id))}")
    return config.lang_to_id[token]


def whisper_prompt(config, batch: int, detect_language, timestamps: bool = False) -> np.ndarray:
    """Whisper's decoder prompt per row: start token, language, task, and no-timestamps unless timestamps are asked
    for, as its generate() builds it (`forced_decoder_ids` of older configs included; the language detected when
    the model is multilingual and none is given)."""
    task, language = getattr(config, "task", None), getattr(config, "language", None)
    tokens = [config.decoder_start_token_id]
    forced = getattr(config, "forced_decoder_ids", None)
    if task is None and language is None and forced:
        for position, (index, token) in enumerate(forced, start=1):
            if index != position:
                raise ValueError(f"forced_decoder_ids {forced} do not follow Whisper's prompt pattern")
            tokens.append(token)
    language_unset = len(tokens) <= 1 or tokens[1] is None
    languages = list(language) if isinstance(language, (list, tuple)) else [language] * batch
    if len(languages) != batch:
        raise ValueError(f"language has {len(languages)} entries for a batch of {batch}")
    if language is not None:
        language_ids = [_language_id(config, name) for name in languages]
    elif getattr(config, "lang_to_id", None) and language_unset:
        language_ids = [int(token) for token in detect_language()]
    else:
        language_ids = None
    task_ids = list((getattr(config, "task_to_id", None) or {}).values())
    if task is not None and task not in (getattr(config, "task_to_id", None) or {}):
        raise ValueError(
            f"unsupported task {task!r}: use one of {', '.join(getattr(config, 'task_to_id', None) or {})}"
        )
    prompts = []
    for row in range(batch):
        prompt = list(tokens)
        if language_ids is not None:
            if len(prompt) > 1:
                prompt[1] = language_ids[row]
            else:
                prompt.append(language_ids[row])
        if task is not None:
            task_id = config.task_to_id[task]
            if any(token in task_ids for token in prompt):
                prompt = [task_id if token in task_ids else token for token in prompt]
            else:
                prompt.append(task_id)
        elif language is not None and task_ids and not any(token in task_ids for token in prompt):
            prompt.append(config.task_to_id["transcribe"])
        no_timestamps = getattr(config, "no_timestamps_token_id", None)
        if timestamps and no_timestamps is None:
            raise ValueError("return_timestamps needs the generation config's no_timestamps_token_id")
        if timestamps:
            prompt = [token for token in prompt if token != no_timestamps]
        elif no_timestamps is not None and prompt[-1] != no_timestamps:
            prompt.append(no_timestamps)
        prompts.append([token for token in prompt if token is not None])
    return np.array(prompts, dtype=np.int64)


def whisper_output(sequences: np.ndarray, prompt_length: int, eos: list[int], pad: int | None) -> np.ndarray:
    """What Whisper's generate() returns: each row's generated tokens without the prompt, the padding and the final
    end-of-text token, padded on the right to the longest row."""
    end = eos[0] if eos else None
    rows = []
    for row in sequences[:, prompt_length:].tolist():
        if row and row[-1] == pad:
            # Whisper's generate() removes as many tokens as the row holds pads (the end token counts once when it
            # is also the pad)
            count = row.count(pad) - (1 if pad == end else 0)
            row = row[:-count] if count else row
        if row and row[-1] == end:
            row = row[:-1]
        rows.append(row)
    width = max((len(row) for row in rows), default=0)
    return np.array([row + [pad] * (width - len(row)) for row in rows], dtype=np.int64).reshape(len(rows), width)


def timestamp_rule(config, begin: int):
    """Whisper's timestamp grammar after a prompt of `begin` tokens (ids from `no_timestamps_token_id + 1` are times):
    the generation starts with a time; times come in pairs around text and never go back; a pair is followed by
    text or the end; and where the times together are likelier than any text token, a time comes next."""
    first, no_timestamps = config.no_timestamps_token_id + 1, config.no_timestamps_token_id
    end = (
        config.eos_token_id
        if isinstance(config.eos_token_id, int)
        else (config.eos_token_id or [config.bos_token_id])[0]
    )
    initial = getattr(config, "max_initial_timestamp_index", None)
    by_probability = getattr(config, "_detect_timestamp_from_logprob", True) is not False

    def rule(scores: np.ndarray, sequences: np.ndarray) -> None:
        scores[:, no_timestamps] = -np.inf
        for row, tokens in enumerate(sequences[:, begin:].tolist()):
            closes = bool(tokens) and tokens[-1] >= first  # the last token is a time
            opened = closes and len(tokens) >= 2 and tokens[-2] < first  # ... after text: its pair is open
            if opened:  # the pair's closing time, or the end
                scores[row, :end] = -np.inf
            elif closes:  # a closed pair: text next
                scores[row, first:] = -np.inf
            times = [token for token in tokens if token >= first]
            earliest = (times[-1] if opened else times[-1] + 1) if times else first
            scores[row, first:earliest] = -np.inf
        if sequences.shape[1] == begin:
            scores[:, :first] = -np.inf
            if initial is not None:
                scores[:, first + initial + 1 :] = -np.inf
        if by_probability:
            shifted = scores - scores.max(axis=-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            with np.errstate(divide="ignore"):
                times_together = np.log(np.exp(log_probs[:, first:]).sum(axis=-1))
            scores[times_together > log_probs[:, :first].max(axis=-1), :first] = -np.inf

    return rule
