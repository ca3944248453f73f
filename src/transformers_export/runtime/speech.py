"""`OnnxModelForSpeechSeq2Seq`: transcription with an exported speech encoder-decoder (`speech2seq-lm-with-past`).

The encoder graph runs once per batch of audio features, then the decoder graph generates with its cache, by the
same greedy, beam and sampling loops as the text models. Whisper's `generate()` differs from the generic one in
three ways, all reproduced here so that the tokens are the same:
- the decoder prompt is `<|startoftranscript|>`, the language (detected from the audio when not given), the task
  and `<|notimestamps|>` (`whisper_prompt`);
- `suppress_tokens` and `begin_suppress_tokens` apply (the generic rules, `rules.py`);
- it returns the generated tokens without that prompt and without the end-of-text token, padded on the right
  (`whisper_output`).
Those conventions, and the timestamp grammar of `return_timestamps=True`, live in `whisper.py`. Long-form audio
(more than one window) and temperature fallback are not supported.
"""

from __future__ import annotations

import numpy as np

from .encoder_decoder import OnnxEncoderDecoder
from .inputs import check_ids, check_mask
from .text_generation import GeneratingModel, streaming_to
from .inputs import as_numpy, is_torch
from .whisper import WHISPER_PROMPT_SETTINGS, timestamp_rule, whisper_output, whisper_prompt, with_language_and_task


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
            shown = ", ".join(
                str(size) if isinstance(size, int) else "batch" if axis == 0 else str(size)
                for axis, size in enumerate(expected)
            )
            raise ValueError(
                f"{name} must have shape ({shown}), got {array.shape}; make it with the checkpoint's feature extractor "
                "(one window: longer audio is not supported)"
            )
        mask = None
        if "attention_mask" in self.encoder_inputs:
            length = array.shape[1] if name == "input_features" else array.shape[-1]
            mask = (
                np.ones((array.shape[0], length), dtype=np.int64)
                if attention_mask is None
                else check_mask(attention_mask, array.shape[0], length)
            )
        return self.model.encode(attention_mask=mask, **{name: array}), mask

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None, input_values=None, **inputs):
        """Decoder logits for whole decoder sequences (no past is taken or returned)."""
        input_features = input_values if input_features is None else input_features
        if inputs:
            raise ValueError(
                f"unexpected input(s) {', '.join(inputs)}: the model takes input_features and decoder_input_ids"
            )
        if input_features is None or decoder_input_ids is None:
            raise ValueError("forward() needs input_features and decoder_input_ids")

        torch_inputs = is_torch(input_features)
        cross, mask = self._encode(input_features, attention_mask)
        decoder_ids = check_ids("decoder_input_ids", decoder_input_ids)
        logits, _ = self.model.step(decoder_ids, mask, cross, self.model.empty_past(decoder_ids.shape[0]))
        return self.wrap({"logits": logits}, torch_inputs)

    def generate(
        self,
        input_features=None,
        attention_mask=None,
        generation_config=None,
        language=None,
        task=None,
        streamer=None,
        seed=None,
        input_values=None,
        return_timestamps=None,
        **kwargs,
    ):
        """Tokens as PyTorch's `generate()` returns them for this model; `language` (a name or code, or one per row),
        `task` (`transcribe`, `translate`) and `return_timestamps` (timestamp tokens between the text, one window)
        as Whisper's generate() takes them."""
        input_features = input_values if input_features is None else input_features  # Moonshine reads the waveform
        if input_features is None:
            raise ValueError(
                "generate() needs input_features (or input_values), from the checkpoint's feature extractor"
            )
        torch_inputs = is_torch(input_features)
        settings = self._settings(generation_config, streamer, kwargs)
        cross, mask = self._encode(input_features, attention_mask)
        batch = next(iter(cross.values())).shape[0]
        if self.whisper:
            config = with_language_and_task(self.generation_config, generation_config, language, task)
            # absent from the generation config of a Whisper built from a config: no timestamps, as in transformers
            default = getattr(config, "return_timestamps", False)
            timestamps = bool(default if return_timestamps is None else return_timestamps)
            start = whisper_prompt(config, batch, lambda: self._detect_language(cross, config), timestamps)
            if timestamps:
                settings.model_rules.append(timestamp_rule(config, start.shape[1]))
        elif language is not None or task is not None or return_timestamps:
            raise ValueError(
                f"language=, task= and return_timestamps= are Whisper's; {self.config.model_type} takes none of them"
            )
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
        steps = self._recording(settings)
        sequences = self._search(step, reorder, start, settings, rng, streaming_to(streamer, torch_inputs))
        if streamer is not None:
            streamer.end()
        if self.whisper:
            sequences = whisper_output(sequences, start.shape[1], settings.eos_token_id, settings.pad_token_id)
        return self._returned(sequences, steps, settings, torch_inputs)

    def _detect_language(self, cross, config) -> np.ndarray:
        """Whisper's language detection: the most likely language token after the start token."""
        batch = next(iter(cross.values())).shape[0]
        start = np.full((batch, 1), config.decoder_start_token_id, dtype=np.int64)
        logits, _ = self.model.step(start, None, cross, self.model.empty_past(batch))
        languages = np.array(sorted(config.lang_to_id.values()))
        return languages[logits[:, -1, languages].argmax(-1)]
