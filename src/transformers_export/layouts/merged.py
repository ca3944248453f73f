"""The merged-decoder layout of encoder-decoder models: `encoder_model.onnx` + `decoder_model_merged.onnx`, the
contract Transformers.js and Optimum's ORTModel classes run (`--layout merged`, and `--target transformers.js`'s).

- The encoder graph runs once per input: the encoder's inputs -> `last_hidden_state`.
- The decoder graph runs every step: `input_ids` (the decoder's), `encoder_attention_mask` (the encoder's mask, when
  it takes one), `encoder_hidden_states`, the self-attention cache `past_key_values.{i}.decoder.*` and the
  cross-attention cache `past_key_values.{i}.encoder.*` -> `logits` (or `last_hidden_state`) and both caches grown,
  `present.{i}.decoder|encoder.*`. At the first step both caches are empty (length 0) and the decoder projects the
  encoder states into the cross-attention cache; at later steps that cache is full and is used as it is.

One decoder graph serves both steps without an If node: each step extends the cross-attention cache by the encoder
positions it lacks (`cache/cross_attention.py`). A full cache lacks none, but an empty projection is not traceable
(T5 reshapes it with a -1 dim), so a full cache projects its last two positions again and the grown cache is cut back
to the encoder's length: two rows per layer and step, where the first step projects them all. The generation layout
(`generation.py`), which computes the cross-attention cache in the encoder graph, stays the default: models whose
decoder reads the encoder states' length (Speech2Text reduces its mask by it) and torch.export programs (which
specialise the sliced length) need it.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from ..cache import cross_attention, names as cache, objects as cache_objects
from .base import Decode, ENCODER_DECODER, PlannedGraph
from .generation import ENCODER_GRAPH, DecoderGraphConfig, EncoderGraphConfig, GenerationLayout
from .graph import GraphModule

MERGED_DECODER_GRAPH = "decoder_model_merged"
ENCODER_STATES = cache.ENCODER_STATES


class EncoderStatesGraph(GraphModule):
    """The encoder's states, from the architecture's encoder inputs."""

    def forward(self, return_dict=True, **encoder_inputs):
        return {"last_hidden_state": self.model.get_encoder()(**encoder_inputs, return_dict=True)[0]}


class MergedDecoderGraph(GraphModule):
    """One decoding step from the encoder states and both caches; returns the main output and both caches grown."""

    def __init__(self, model, main_output: str):
        super().__init__(model)
        self.main_output = main_output

    def forward(self, input_ids, encoder_hidden_states, encoder_attention_mask=None, return_dict=True, **past):
        length = encoder_hidden_states.shape[1]
        computed = past[cache.cache_name(cache.PAST, 0, "key", "encoder")].shape[2]  # 0 or `length`
        # every encoder position when the cross-attention cache is empty, the last two again when it is full: two, not
        # one, so that no traced dim is 1 at one step and another size at the other
        new_states = encoder_hidden_states[:, computed - 2 * (computed // length) :]
        mask = {} if encoder_attention_mask is None else {"attention_mask": encoder_attention_mask}
        output = self.model(
            decoder_input_ids=input_ids,
            encoder_outputs=cache_objects.encoder_output(new_states),
            use_cache=True,
            return_dict=True,
            **mask,
            **{cache_objects.cache_argument(self.model): cross_attention.extending_cross_cache(past, length)},
        )
        grown = cache.flatten(cache.PRESENT, cache_objects.layer_tensors(cache_objects.model_cache(output)))
        return {self.main_output: output[self.main_output], **grown}


class EncoderStatesConfig(EncoderGraphConfig):
    @property
    def outputs(self):
        return OrderedDict([("last_hidden_state", {0: "batch", 1: "encoder_sequence"})])


class MergedDecoderConfig(DecoderGraphConfig):
    @property
    def inputs(self):
        inputs = OrderedDict([("input_ids", {0: "batch", 1: "decoder_sequence"})])
        if "attention_mask" in self.parent.inputs:
            inputs["encoder_attention_mask"] = dict(self.parent.inputs["attention_mask"])
        inputs[ENCODER_STATES] = {0: "batch", 1: "encoder_sequence"}
        inputs.update(cache.cache_entries(cache.PAST, self.layer_count, True))
        return inputs

    @property
    def outputs(self):
        outputs = OrderedDict([(self.main_output, {0: "batch", 1: "decoder_sequence"})])
        outputs.update(cache.cache_entries(cache.PRESENT, self.layer_count, True))
        return outputs

    def _generated_inputs(self):
        return {name: axes for name, axes in self.inputs.items() if not cache.is_past(name) and name != ENCODER_STATES}

    def _extra_dummy_inputs(self, sizes):
        # the cache as at a later step, its cross-attention part as long as the encoder states (the first step, both
        # parts empty, is what validation's decode checks)
        tensors = super()._extra_dummy_inputs(sizes)
        encoder_length = next(t for n, t in tensors.items() if cache.is_past(n, side="encoder")).shape[2]
        width = cache_objects.encoder_width(self._config)
        return {ENCODER_STATES: torch.randn(sizes["batch"], encoder_length, width), **tensors}


class MergedDecoderLayout(GenerationLayout):
    """Encoder-decoder models with a cache: the encoder's states, then the merged decoder step by step."""

    def is_default(self, onnx_config, feature: str) -> bool:
        return False

    def refusal(self, onnx_config, feature: str, model_key: str) -> str | None:
        reason = super().refusal(onnx_config, feature, model_key)
        mask_axis = onnx_config.inputs.get("attention_mask", {}).get(1, "encoder_sequence")
        if reason is None and mask_axis != "encoder_sequence":
            # a mask over audio frames, which the decoder reduces by the length of the encoder states it is given:
            # the merged decoder is given only the positions it projects
            return (
                f"--layout {self.name} cannot export {model_key}: its decoder reduces the encoder's mask over "
                f"{mask_axis} by the encoder states' length; use the default layout (generation)"
            )
        return reason

    def graphs(self, model, onnx_config, preprocessor=None) -> list[PlannedGraph]:
        main_output = "logits" if "logits" in onnx_config.outputs else "last_hidden_state"
        encoder_config = EncoderStatesConfig(onnx_config)
        encoder = EncoderStatesGraph(model)
        encoder_config.bind_model(encoder)
        decoder = MergedDecoderGraph(model, main_output)
        return [
            PlannedGraph(ENCODER_GRAPH, "encoder", encoder, encoder_config),
            PlannedGraph(MERGED_DECODER_GRAPH, "decoder", decoder, MergedDecoderConfig(onnx_config, main_output)),
        ]

    def decode(self, graphs, backend) -> Decode:
        return Decode(ENCODER_DECODER, 0)
