"""The generating model classes: `OnnxModelForCausalLM` and `OnnxModelForSeq2SeqLM`.

`generate()` takes generate()'s arguments (resolved by `arguments.py`) and runs greedy search, beam search or
sampling (`generation.py`, `beam_search.py`) over the exported graphs. Exports with a KV cache (`-with-past`) decode
one token per step; exports without one re-run the whole sequence each step (slower, same tokens).
"""

from __future__ import annotations

import numpy as np

from .arguments import folder_generation_config, resolve, settings_from, warn_about_unapplied
from .beam_search import beam_search
from .decoder import OnnxDecoder, position_ids_from_mask
from .encoder_decoder import OnnxEncoderDecoder
from .generation import causal_steps, greedy_search
from .inputs import check_ids, check_max_new_tokens, check_prompt
from .output_classes import cache_field_name
from .base import OnnxModel
from .inputs import as_numpy, is_torch, like_inputs


def streaming_to(streamer, torch_inputs: bool):
    """A step's new tokens to the streamer's `put`, as generate() streams them."""

    def stream(tokens):
        if streamer is not None:
            streamer.put(like_inputs(tokens, torch_inputs))

    return stream


class GeneratingModel(OnnxModel):
    # generation-config entries a subclass applies itself (Whisper's prompt: language and task tokens)
    prompt_settings: frozenset = frozenset()
    generates = True

    def _open(self, provider, session_options, threads) -> None:
        self.generation_config = folder_generation_config(self.folder)
        warn_about_unapplied(self.generation_config, self.folder, self.prompt_settings)

    def generate(self, input_ids=None, attention_mask=None, generation_config=None, streamer=None, seed=None, **kwargs):
        """Tokens as `generate()` returns them (the prompt first for decoder-only models, the decoder start token first
        for encoder-decoders), as torch tensors when `input_ids` is one. Takes generate()'s generation parameters
        (`max_new_tokens`, `num_beams`, `do_sample`, `temperature`, `top_k`, `top_p`, `repetition_penalty`, ...),
        `generation_config=` and `streamer=`; `seed` makes sampling reproducible (NumPy's draws, not PyTorch's)."""
        torch_inputs = is_torch(input_ids)
        if input_ids is None:
            raise ValueError("generate() needs input_ids (a batch of prompts, shape (batch, sequence))")
        settings = self._settings(generation_config, streamer, kwargs)
        input_ids, mask = check_prompt(input_ids, attention_mask, self.vocab_size)
        if settings.do_sample and settings.num_return_sequences > 1:
            input_ids, mask = (
                np.repeat(input_ids, settings.num_return_sequences, axis=0),
                np.repeat(mask, settings.num_return_sequences, axis=0),
            )
        rng = np.random.default_rng(seed) if settings.do_sample else None
        steps = self._recording(settings)
        sequences = self._decode(input_ids, mask, settings, rng, streaming_to(streamer, torch_inputs))
        if streamer is not None:
            streamer.end()
        return self._returned(sequences, steps, settings, torch_inputs)

    @staticmethod
    def _recording(settings) -> list:
        """The list each step's (scores, logits) go into, when generate() is to return them."""
        steps = []
        if settings.output_scores or settings.output_logits:
            settings.on_scores = lambda scores, logits: steps.append((scores, logits))
        return steps

    def _returned(self, sequences, steps, settings, torch_inputs):
        """The tokens, or with `return_dict_in_generate` transformers' `GenerateDecoderOnlyOutput` /
        `GenerateEncoderDecoderOutput` holding them and, when asked, a tuple of per-step (batch, vocab) scores and
        logits."""
        if not settings.return_dict_in_generate:
            return like_inputs(sequences, torch_inputs)
        from transformers.generation.utils import GenerateDecoderOnlyOutput, GenerateEncoderDecoderOutput

        def per_step(index):
            return tuple(like_inputs(step[index], torch_inputs) for step in steps)

        output_class = GenerateEncoderDecoderOutput if self.config.is_encoder_decoder else GenerateDecoderOnlyOutput
        return output_class(
            sequences=like_inputs(sequences, torch_inputs),
            scores=per_step(0) if settings.output_scores else None,
            logits=per_step(1) if settings.output_logits else None,
        )

    def _settings(self, generation_config, streamer, kwargs):
        """generate()'s arguments resolved against the folder's generation config, with the combinations the loops
        cannot run refused."""
        settings = settings_from(
            resolve(self.generation_config, generation_config, also_applied=self.prompt_settings, **kwargs),
            max_positions=getattr(self.config, "max_position_embeddings", None),
        )
        beams, returned = settings.num_beams, settings.num_return_sequences
        if beams < 1:
            raise ValueError(f"num_beams must be at least 1, got {beams}")
        if settings.do_sample and beams > 1:
            raise ValueError("sampling with beams is not supported; pass num_beams=1 or do_sample=False")
        if returned > 1 and not settings.do_sample and beams == 1:
            raise ValueError(
                "greedy search returns one sequence per prompt; num_return_sequences needs num_beams or do_sample=True"
            )
        if returned > beams and beams > 1:
            raise ValueError(f"num_return_sequences ({returned}) must not exceed num_beams ({beams})")
        if (settings.output_scores or settings.output_logits) and beams > 1:
            raise ValueError(
                "output_scores and output_logits are returned for greedy search and sampling; pass num_beams=1"
            )
        if streamer is not None and beams > 1:
            raise ValueError("streamer cannot be used with beam search (as in transformers); pass num_beams=1")
        return settings

    @staticmethod
    def _search(step, reorder, start, settings, rng, stream, encoder_input_ids=None):
        beams = settings.num_beams
        max_new_tokens = check_max_new_tokens(settings.new_tokens(start.shape[1]))
        if encoder_input_ids is not None:
            encoder_input_ids = np.repeat(encoder_input_ids, beams, axis=0)
        if beams > 1:
            return beam_search(
                step, reorder, start, beams, max_new_tokens, settings, encoder_input_ids, settings.num_return_sequences
            )
        stream(start)
        return greedy_search(
            step,
            start,
            max_new_tokens,
            settings,
            encoder_input_ids,
            rng=rng,
            on_tokens=stream,
            on_scores=settings.on_scores,
        )


class OnnxModelForCausalLM(GeneratingModel):
    """An exported `causal-lm` or `causal-lm-with-past` folder: logits from `forward`, tokens from `generate`."""

    tasks = ("causal-lm",)
    output_classes = ("CausalLMOutputWithPast",)

    def _open(self, provider, session_options, threads) -> None:
        super()._open(provider, session_options, threads)
        if self.manifest.feature.endswith("-with-past"):
            self.decoder = OnnxDecoder(self.manifest.path("model"), provider, session_options, threads)
            self.session = self.decoder.session
        else:
            self.decoder = None
            OnnxModel._open(self, provider, session_options, threads)

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, use_cache=None, cache=None, **inputs):
        """Logits for the new tokens. A `-with-past` export takes and returns `past_key_values` as the PyTorch model
        does (returned unless `use_cache=False`): one tuple per layer of its cache tensors, fed back as returned;
        `attention_mask` then covers the past and the new tokens (all ones when left out). `cache=` is the same
        argument under the name transformers 5.25 gave it."""
        torch_inputs = is_torch(input_ids)
        past_key_values = cache if past_key_values is None else past_key_values
        if self.decoder is None:
            if past_key_values is not None or use_cache:
                raise ValueError(
                    f"'{self.folder}' was exported without a cache ({self.manifest.feature}); export "
                    "causal-lm-with-past to pass use_cache or past_key_values"
                )
            ids, mask = check_prompt(
                as_numpy("input_ids", input_ids),
                None if attention_mask is None else as_numpy("attention_mask", attention_mask),
                self.vocab_size,
            )
            return self.wrap({"logits": self._logits(ids, mask, None, inputs)[0]}, torch_inputs)
        ids = check_ids("input_ids", input_ids, self.vocab_size)
        past = (
            self.decoder.empty_past(ids.shape[0])
            if past_key_values is None
            else self.decoder.past_from_layers(past_key_values)
        )
        if attention_mask is None:
            mask = np.ones((ids.shape[0], self.decoder.past_length(past) + ids.shape[1]), np.int64)
        else:
            mask = as_numpy("attention_mask", attention_mask).astype(np.int64)
        logits, next_past = self._logits(ids, mask, past, inputs)
        outputs = {"logits": logits}
        if use_cache is not False:
            outputs[cache_field_name()] = tuple(
                tuple(like_inputs(tensor, torch_inputs) for tensor in layer)
                for layer in self.decoder.past_as_layers(next_past)
            )
        return self.wrap(outputs, torch_inputs)

    def _logits(self, new_ids, mask, past, extra=None):
        """(logits, next past) of one step; without a cache, `new_ids` is the whole sequence."""
        if self.decoder is not None:
            if extra:
                raise ValueError(
                    f"unexpected input(s) {', '.join(extra)}: a -with-past decoder takes input_ids and attention_mask"
                )
            return self.decoder.step(new_ids, mask, past)
        feed = {"input_ids": new_ids, "attention_mask": mask, **(extra or {})}
        if "position_ids" in self.graph_inputs and "position_ids" not in feed:
            feed["position_ids"] = position_ids_from_mask(mask, new_ids.shape[1])
        outputs = self.run(self.feed(feed))
        return outputs["logits" if "logits" in outputs else self.output_names[0]], None

    def _decode(self, input_ids, mask, settings, rng, stream):
        rows = settings.num_beams
        past = self.decoder.empty_past(input_ids.shape[0] * rows) if self.decoder else None
        step, reorder = causal_steps(self._logits, input_ids, mask, rows, past)
        return self._search(step, reorder, input_ids, settings, rng, stream)


class OnnxModelForSeq2SeqLM(GeneratingModel):
    """An exported `seq2seq-lm` folder: the generation layout (encoder + decoder with a KV cache) or one graph
    without a cache."""

    tasks = ("seq2seq-lm",)
    output_classes = ("Seq2SeqLMOutput",)

    def _open(self, provider, session_options, threads) -> None:
        super()._open(provider, session_options, threads)
        if self.manifest.has_role("encoder"):  # encoder + decoder graphs with a cache
            self.model = OnnxEncoderDecoder(self.folder, provider, session_options, threads)
            self.session = self.model.decoder
        else:
            self.model = None
            OnnxModel._open(self, provider, session_options, threads)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, **inputs):
        """Decoder logits for whole sequences (no past is taken or returned)."""
        if self.model is None:
            return super().forward(
                input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids, **inputs
            )
        if inputs:
            raise ValueError(
                f"unexpected input(s) {', '.join(inputs)}: the generation layout takes input_ids, attention_mask and "
                "decoder_input_ids"
            )
        torch_inputs = is_torch(input_ids)
        ids, mask = check_prompt(
            as_numpy("input_ids", input_ids),
            None if attention_mask is None else as_numpy("attention_mask", attention_mask),
            self.vocab_size,
        )
        decoder_ids = check_ids("decoder_input_ids", as_numpy("decoder_input_ids", decoder_input_ids), self.vocab_size)
        if decoder_ids.shape != (ids.shape[0], decoder_ids.shape[1]) or not decoder_ids.shape[1]:
            raise ValueError(
                f"decoder_input_ids must have shape ({ids.shape[0]}, n) with n >= 1, as input_ids has batch "
                f"{ids.shape[0]}; got {decoder_ids.shape}"
            )
        cross = self.model.encode(ids, mask)
        logits, _ = self.model.step(decoder_ids, mask, cross, self.model.empty_past(ids.shape[0]))
        return self.wrap({"logits": logits}, torch_inputs)

    def _decode(self, input_ids, mask, settings, rng, stream):
        beams = settings.num_beams
        start = np.full((input_ids.shape[0], 1), settings.decoder_start_token_id or 0, dtype=np.int64)
        encoder_mask = np.repeat(mask, beams, axis=0)
        if self.model is not None:
            # every beam of an input shares its encoder states: they are computed once and repeated
            cross = {
                name: np.repeat(value, beams, axis=0) for name, value in self.model.encode(input_ids, mask).items()
            }
            state = {"past": self.model.empty_past(input_ids.shape[0] * beams)}

            def step(new_tokens):
                logits, state["past"] = self.model.step(new_tokens, encoder_mask, cross, state["past"])
                return logits

            def reorder(rows):
                state["past"] = {name: value[rows] for name, value in state["past"].items()}
        else:
            encoder_ids = np.repeat(input_ids, beams, axis=0)
            state = {"decoded": np.repeat(start, beams, axis=0), "first": True}

            def step(new_tokens):
                if not state["first"]:
                    state["decoded"] = np.concatenate([state["decoded"], new_tokens], axis=1)
                state["first"] = False
                outputs = self.run(
                    self.feed(
                        {
                            "input_ids": encoder_ids,
                            "attention_mask": encoder_mask,
                            "decoder_input_ids": state["decoded"],
                        }
                    )
                )
                return outputs["logits" if "logits" in outputs else self.output_names[0]]

            def reorder(rows):
                state["decoded"] = state["decoded"][rows]

        return self._search(step, reorder, start, settings, rng, stream, encoder_input_ids=input_ids)
