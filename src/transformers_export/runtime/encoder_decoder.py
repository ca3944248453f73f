"""The generation layout of an encoder-decoder export, run in ONNX Runtime: encode once, then decode step by step."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .decoder import presents_as_past

_SELF_PAST = re.compile(r"^past_key_values\.(\d+)\.decoder\.(key|value)$")


class OnnxEncoderDecoder:
    def __init__(self, folder: str | Path, session_options=None, providers=("CPUExecutionProvider",)):
        import onnxruntime

        folder = Path(folder)
        self.encoder = onnxruntime.InferenceSession(str(folder / "encoder_model.onnx"), session_options, providers=list(providers))
        self.decoder = onnxruntime.InferenceSession(str(folder / "decoder_model.onnx"), session_options, providers=list(providers))
        decoder_inputs = {i.name: i for i in self.decoder.get_inputs()}
        self.decoder_input_names = list(decoder_inputs)
        self.encoder_output_names = [o.name for o in self.encoder.get_outputs()]
        self.decoder_output_names = [o.name for o in self.decoder.get_outputs()]
        self.self_past_dims = {
            name: (graph_input.shape[1], graph_input.shape[3])
            for name, graph_input in decoder_inputs.items()
            if _SELF_PAST.match(name)
        }
        self.main_output = self.decoder_output_names[0]

    def encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        """The cross-attention cache, named as the decoder's `past_key_values.{i}.encoder.*` inputs."""
        outputs = self.encoder.run(None, {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)})
        return presents_as_past(dict(zip(self.encoder_output_names, outputs)))

    def empty_past(self, batch: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((batch, heads, 0, dim), np.float32) for name, (heads, dim) in self.self_past_dims.items()}

    def feed(self, decoder_input_ids, attention_mask, cross, past) -> dict:
        feed = {
            "decoder_input_ids": decoder_input_ids.astype(np.int64),
            "encoder_attention_mask": attention_mask.astype(np.int64),
            **cross,
            **past,
        }
        return {name: value for name, value in feed.items() if name in self.decoder_input_names}

    def run(self, feed: dict) -> dict[str, np.ndarray]:
        return dict(zip(self.decoder_output_names, self.decoder.run(self.decoder_output_names, feed)))

    next_past = staticmethod(presents_as_past)

    def step(self, decoder_input_ids, attention_mask, cross, past):
        outputs = self.run(self.feed(decoder_input_ids, attention_mask, cross, past))
        return outputs[self.main_output], self.next_past(outputs)
