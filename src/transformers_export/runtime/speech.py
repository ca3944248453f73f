"""`OnnxModelForSpeechSeq2Seq`: transcription with an exported speech encoder-decoder (`speech2seq-lm-with-past`).

The encoder graph runs once per batch of audio features, then the decoder graph generates with its cache, by the
same greedy, beam and sampling loops as the text models. Whisper's `generate()` differs from the generic one in
three ways, all reproduced here so that the tokens are the same:
- the decoder prompt is `<|startoftranscript|>`, the language (detected from the audio when not given), the task
  and `<|notimestamps|>` (`whisper_prompt`);
- `suppress_tokens` and `begin_suppress_tokens` apply (the generic rules, `rules.py`);
- it returns the generated tokens without that prompt and without the end-of-text token, padded on the right
  (`whisper_output`).
Timestamps, long-form audio (more than one window) and temperature fallback are not supported.
"""

from __future__ import annotations

import numpy as np

from .encoder_decoder import OnnxEncoderDecoder
from .inputs import check_ids, check_mask
from .text_generation import GeneratingModel, streaming_to
from .base import _is_torch, as_numpy, like_inputs

# Whisper's generation-config entries that only shape the prompt (or that the runtime refuses when set to a value
# that needs timestamps)
WHISPER_PROMPT_SETTINGS = frozenset({
    "lang_to_id", "task_to_id", "language", "task", "is_multilingual", "forced_decoder_ids", "no_timestamps_token_id",
    "return_timestamps", "alignment_heads", "max_initial_timestamp_index", "prev_sot_token_id", "prompt_condition_type",
})


class OnnxModelForSpeechSeq2Seq(GeneratingModel):
    """An exported `speech2seq-lm-with-past` folder (Whisper): `generate(input_features, language=, task=)` returns
    the tokens PyTorch's `generate()` returns; `forward` the decoder's logits."""

    tasks = ("speech2seq-lm",)
    output_classes = ("Seq2SeqLMOutput",)
    main_input_name = "input_features"
    prompt_settings = WHISPER_PROMPT_SETTINGS

    def _open(self, provider, session_options, threads) -> None:
        super()._open(provider, session_options, threads)
        if not self.manifest.has_role("encoder"):
            raise ValueError(
                f"'{self.folder}' holds one graph without a cache; export with --feature speech2seq-lm-with-past "
                "to generate with this runtime"
            )
        self.model = OnnxEncoderDecoder(self.folder, provider, session_options, threads)
        self.session = self.model.decoder
        self.whisper = self.config.model_type == "whisper"
        self.encoder_inputs = {item.name: item.shape for item in self.model.encoder.get_inputs()}
        self.main_input_name = next(name for name in self.encoder_inputs if name != "attention_mask")

    def _encode(self, features, attention_mask) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """(cross-attention cache, the encoder's mask) of a batch of features; the mask is None for encoders that
        take none (Whisper's), else the caller's or all ones, as the PyTorch forward assumes."""
        name = next(name for name in self.encoder_inputs if name != "attention_mask")
        array = as_numpy(name, features, np.float32)
        expected = self.encoder_inputs[name]
        fixed = [(axis, size) for axis, size in enumerate(expected) if isinstance(size, int)]
        if array.ndim != len(expected) or any(array.shape[axis] != size for axis, size in fixed):
            shown = ", ".join(str(size) if isinstance(size, int) else "batch" if axis == 0 else str(size) for axis, size in enumerate(expected))
            raise ValueError(
                f"{name} must have shape ({shown}), got {array.shape}; make it with the checkpoint's feature extractor "
                "(one window: longer audio is not supported)"
            )
        mask = None
        if "attention_mask" in self.encoder_inputs:
            length = array.shape[1] if name == "input_features" else array.shape[-1]
            mask = np.ones((array.shape[0], length), dtype=np.int64) if attention_mask is None else check_mask(attention_mask, array.shape[0], length)
        return self.model.encode(attention_mask=mask, **{name: array}), mask

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None, input_values=None, **inputs):
        """Decoder logits for whole decoder sequences (no past is taken or returned)."""
        input_features = input_values if input_features is None else input_features
        if inputs:
            raise ValueError(f"unexpected input(s) {', '.join(inputs)}: the model takes input_features and decoder_input_ids")
        if input_features is None or decoder_input_ids is None:
            raise ValueError("forward() needs input_features and decoder_input_ids")

        torch_inputs = _is_torch(input_features)
        cross, mask = self._encode(input_features, attention_mask)
        decoder_ids = check_ids("decoder_input_ids", decoder_input_ids)
        logits, _ = self.model.step(decoder_ids, mask, cross, self.model.empty_past(decoder_ids.shape[0]))
        return self.wrap({"logits": logits}, torch_inputs)

    def generate(self, input_features=None, attention_mask=None, generation_config=None, language=None, task=None,
                 streamer=None, seed=None, input_values=None, return_timestamps=None, **kwargs):
        """Tokens as PyTorch's `generate()` returns them for this model; `language` (a name or code, or one per row),
        `task` (`transcribe`, `translate`) and `return_timestamps` (timestamp tokens between the text, one window)
        as Whisper's generate() takes them."""
        input_features = input_values if input_features is None else input_features  # Moonshine reads the waveform
        if input_features is None:
            raise ValueError("generate() needs input_features (or input_values), from the checkpoint's feature extractor")
        torch_inputs = _is_torch(input_features)
        settings = self._settings(generation_config, streamer, kwargs)
        cross, mask = self._encode(input_features, attention_mask)
        batch = next(iter(cross.values())).shape[0]
        if self.whisper:
            config = _with_language_and_task(self.generation_config, generation_config, language, task)
            timestamps = bool(config.return_timestamps if return_timestamps is None else return_timestamps)
            start = whisper_prompt(config, batch, lambda: self._detect_language(cross, config), timestamps)
            if timestamps:
                settings.model_rules.append(timestamp_rule(config, start.shape[1]))
        elif language is not None or task is not None or return_timestamps:
            raise ValueError(f"language=, task= and return_timestamps= are Whisper's; {self.config.model_type} takes none of them")
        else:
            start = np.full((batch, 1), settings.decoder_start_token_id or 0, dtype=np.int64)
        rows = settings.num_beams if settings.num_beams > 1 else settings.num_return_sequences
        if rows > 1:
            cross = {name: np.repeat(value, rows, axis=0) for name, value in cross.items()}
            mask = None if mask is None else np.repeat(mask, rows, axis=0)
            start = np.repeat(start, rows, axis=0) if settings.num_beams == 1 else start
        state = {"past": self.model.empty_past(cross[next(iter(cross))].shape[0])}

        def step(new_tokens):
            logits, state["past"] = self.model.step(new_tokens, mask, cross, state["past"])
            return logits

        def reorder(kept):
            state["past"] = {name: value[kept] for name, value in state["past"].items()}

        rng = np.random.default_rng(seed) if settings.do_sample else None
        sequences = self._search(step, reorder, start, settings, rng, streaming_to(streamer, torch_inputs))
        if streamer is not None:
            streamer.end()
        if self.whisper:
            sequences = whisper_output(sequences, start.shape[1], settings.eos_token_id, settings.pad_token_id)
        return like_inputs(sequences, torch_inputs)

    def _detect_language(self, cross, config) -> np.ndarray:
        """Whisper's language detection: the most likely language token after the start token."""
        batch = next(iter(cross.values())).shape[0]
        start = np.full((batch, 1), config.decoder_start_token_id, dtype=np.int64)
        logits, _ = self.model.step(start, None, cross, self.model.empty_past(batch))
        languages = np.array(sorted(config.lang_to_id.values()))
        return languages[logits[:, -1, languages].argmax(-1)]


def _with_language_and_task(folder_config, call_config, language, task):
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
        raise ValueError(f"unsupported task {task!r}: use one of {', '.join(getattr(config, 'task_to_id', None) or {})}")
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
    end = config.eos_token_id if isinstance(config.eos_token_id, int) else (config.eos_token_id or [config.bos_token_id])[0]
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
                scores[:, first + initial + 1:] = -np.inf
        if by_probability:
            shifted = scores - scores.max(axis=-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            with np.errstate(divide="ignore"):
                times_together = np.log(np.exp(log_probs[:, first:]).sum(axis=-1))
            scores[times_together > log_probs[:, :first].max(axis=-1), :first] = -np.inf

    return rule
