"""An encoder-decoder export with a cache, run in ONNX Runtime: encode once, then decode step by step.

Two decoder contracts: the generation layout's takes the cross-attention cache the encoder graph computed; the merged
layout's takes the encoder states, fills that cache itself at the first step (from an empty past) and returns it for
the next steps. Which one a folder holds is read from the decoder's inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..cache import names as cache
from ..output.manifest import read_manifest
from .decoder import presents_as_past
from .session import open_session, run_session
from .inputs import check_prompt


class OnnxEncoderDecoder:
    def __init__(self, folder: str | Path, provider=None, session_options=None, threads: int | None = None):
        manifest = read_manifest(folder)
        self.encoder = open_session(manifest.path("encoder"), provider, session_options, threads)
        self.decoder = open_session(manifest.path("decoder"), provider, session_options, threads)
        decoder_inputs = {i.name: i for i in self.decoder.get_inputs()}
        self.decoder_input_names = list(decoder_inputs)
        self.encoder_input_names = [i.name for i in self.encoder.get_inputs()]
        self.encoder_output_names = [o.name for o in self.encoder.get_outputs()]
        self.decoder_output_names = [o.name for o in self.decoder.get_outputs()]
        self.merged = cache.ENCODER_STATES in decoder_inputs
        # the past that starts empty: both caches for the merged decoder, the self-attention one otherwise
        self.empty_past_dims = {
            name: (graph_input.shape[1], graph_input.shape[3])
            for name, graph_input in decoder_inputs.items()
            if cache.is_past(name, side=None if self.merged else "decoder")
        }
        self.ids_name = "input_ids" if self.merged else "decoder_input_ids"
        self.main_output = self.decoder_output_names[0]

    def encode(
        self, input_ids: np.ndarray | None = None, attention_mask: np.ndarray | None = None, **audio
    ) -> dict[str, np.ndarray]:
        """What every decoder step takes from the encoder: the cross-attention cache, named as the decoder's
        `past_key_values.{i}.encoder.*` inputs, or (merged) the encoder's states as `encoder_hidden_states`. A text
        encoder takes `input_ids` and `attention_mask`; a speech encoder its features (`input_features=`, ...)."""
        if input_ids is not None:
            input_ids, attention_mask = check_prompt(input_ids, attention_mask)
            feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        else:
            feed = {name: np.asarray(value, dtype=np.float32) for name, value in audio.items()}
            if attention_mask is not None:
                feed["attention_mask"] = np.asarray(attention_mask, dtype=np.int64)
        feed = {name: value for name, value in feed.items() if name in self.encoder_input_names}
        missing = [name for name in self.encoder_input_names if name not in feed]
        if missing:
            raise ValueError(f"the encoder needs {', '.join(missing)}; it takes {', '.join(self.encoder_input_names)}")
        outputs = run_session(self.encoder, self.encoder_output_names, feed)
        if self.merged:
            return {cache.ENCODER_STATES: outputs["last_hidden_state"]}
        return presents_as_past(outputs, side="encoder")

    def empty_past(self, batch: int) -> dict[str, np.ndarray]:
        return cache.empty_past(self.empty_past_dims, batch, np.float32)

    def feed(self, decoder_input_ids, attention_mask, encoded, past) -> dict:
        """`attention_mask`: the encoder's (None for encoders that take none, as Whisper's); `encoded`: what
        `encode` returned."""
        feed = {self.ids_name: decoder_input_ids.astype(np.int64), **encoded, **past}
        if attention_mask is not None:
            feed["encoder_attention_mask"] = attention_mask.astype(np.int64)
        return {name: value for name, value in feed.items() if name in self.decoder_input_names}

    def run(self, feed: dict) -> dict[str, np.ndarray]:
        return run_session(self.decoder, self.decoder_output_names, feed)

    def next_past(self, outputs):
        return presents_as_past(outputs, side=None if self.merged else "decoder")

    def step(self, decoder_input_ids, attention_mask, encoded, past):
        outputs = self.run(self.feed(decoder_input_ids, attention_mask, encoded, past))
        return outputs[self.main_output], self.next_past(outputs)
