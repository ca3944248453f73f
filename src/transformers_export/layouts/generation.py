"""The generation layout of encoder-decoder models: `encoder_model.onnx` + `decoder_model.onnx`.

- The encoder graph runs once per input: the encoder's inputs (`input_ids`, `attention_mask`; Whisper's
  `input_features`) -> `last_hidden_state` and the decoder's cross-attention cache `present.{i}.encoder.key|value`,
  computed once here instead of at every decoding step.
- The decoder graph runs every step: `decoder_input_ids`, `encoder_attention_mask` (the encoder's mask, when it
  takes one),
  the self-attention cache
  `past_key_values.{i}.decoder.*` (empty, length 0, at the first step) and the cross-attention cache
  `past_key_values.{i}.encoder.*` -> `logits` (or `last_hidden_state`) and `present.{i}.decoder.*`.
No graph has an If node, and the first step needs nothing special.

Each graph is a small `GraphModule` over the loaded model plus an export config, so `export_onnx` and
`validate_onnx` handle them like any other model.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from ..cache import names as cache, objects as cache_objects
from ..config import OnnxConfig
from .base import ENCODER_DECODER, Decode, Layout, PlannedGraph, image_text_only, is_image_text, uses_cache
from .graph import GraphConfig, GraphModule

# graph names; each format gives them its own suffix
ENCODER_GRAPH, DECODER_GRAPH = "encoder_model", "decoder_model"


class EncoderGraph(GraphModule):
    """Encoder states and the cross-attention cache every decoder layer derives from them. The encoder's inputs are
    the architecture's (token ids and mask; Whisper's log-mel features; a waveform)."""

    def __init__(self, model):
        super().__init__(model)
        self.start_token = cache_objects.decoder_start_token_id(model)

    def forward(self, return_dict=True, **encoder_inputs):
        hidden = self.model.get_encoder()(**encoder_inputs, return_dict=True)[0]
        decoder = self.model.get_decoder()
        # One decoder step fills the cross-attention cache; everything else it computes is dead code in the graph.
        # The cached keys and values are projections of the states alone, so no mask is needed here.
        start = torch.full((hidden.shape[0], 1), self.start_token, dtype=torch.int64)
        output = decoder(
            input_ids=start,
            encoder_hidden_states=hidden,
            use_cache=True,
            return_dict=True,
            **{cache_objects.cache_argument(decoder): cache_objects.empty_encoder_decoder_cache()},
        )
        cross = cache_objects.pairs_from_cache(cache_objects.model_cache(output).cross_attention_cache)
        return {"last_hidden_state": hidden, **_one_side(cache.flatten(cache.PRESENT, cross), "encoder")}


class DecoderGraph(GraphModule):
    """One decoding step over both caches; returns the main output and the grown self-attention cache."""

    def __init__(self, model, main_output: str):
        super().__init__(model)
        self.main_output = main_output

    def forward(self, decoder_input_ids, encoder_attention_mask=None, return_dict=True, **past):
        past_cache = cache_objects.cache_from_named(past)
        # The decoder reads encoder states only through the cross-attention cache, which is filled; these zeros
        # give the encoder length and batch to code that asks for them and are otherwise unused.
        cross_key = past[cache.cache_name(cache.PAST, 0, "key", "encoder")]
        batch, encoder_length = decoder_input_ids.shape[0], cross_key.shape[2]
        hidden = torch.zeros(
            batch, encoder_length, cache_objects.encoder_width(self.model.config), dtype=cross_key.dtype
        )
        mask = {} if encoder_attention_mask is None else {"attention_mask": encoder_attention_mask}
        output = self.model(
            decoder_input_ids=decoder_input_ids,
            encoder_outputs=cache_objects.encoder_output(hidden),
            use_cache=True,
            return_dict=True,
            **mask,
            **{cache_objects.cache_argument(self.model): past_cache},
        )
        own = cache_objects.pairs_from_cache(cache_objects.model_cache(output).self_attention_cache)
        return {self.main_output: output[self.main_output], **_one_side(cache.flatten(cache.PRESENT, own), "decoder")}


def _one_side(named: dict, side: str) -> dict:
    """Decoder-only names (`present.{i}.key`) as the names of one side (`present.{i}.encoder.key`)."""
    return {
        cache.cache_name(parsed.direction, parsed.layer, parsed.kind, side): tensor
        for name, tensor in named.items()
        if (parsed := cache.parse_name(name))
    }


class EncoderGraphConfig(GraphConfig):
    @property
    def inputs(self):
        return OrderedDict((name, axes) for name, axes in self.parent.inputs.items() if _encoder_input(name))

    @property
    def outputs(self):
        outputs = OrderedDict([("last_hidden_state", {0: "batch", 1: "encoder_sequence"})])
        outputs.update(cache.cache_entries(cache.PRESENT, self.layer_count, True, sides=("encoder",)))
        return outputs


class DecoderGraphConfig(GraphConfig):
    def __init__(self, parent: OnnxConfig, main_output: str):
        super().__init__(parent)
        self.main_output = main_output

    @property
    def inputs(self):
        inputs = OrderedDict([("decoder_input_ids", {0: "batch", 1: "decoder_sequence"})])
        if "attention_mask" in self.parent.inputs:
            # the encoder's own mask (over tokens, or over audio frames that the model reduces to the states'
            # length, as Speech2Text does); Whisper's encoder takes none
            inputs["encoder_attention_mask"] = dict(self.parent.inputs["attention_mask"])
        inputs.update(cache.cache_entries(cache.PAST, self.layer_count, True))
        return inputs

    @property
    def outputs(self):
        outputs = OrderedDict([(self.main_output, {0: "batch", 1: "decoder_sequence"})])
        outputs.update(cache.cache_entries(cache.PRESENT, self.layer_count, True, sides=("decoder",)))
        return outputs

    def _generated_inputs(self):
        return {name: axes for name, axes in self.inputs.items() if not cache.is_past(name)}

    def _extra_dummy_inputs(self, sizes):
        frames = self.inputs.get("encoder_attention_mask", {}).get(1, "encoder_sequence")
        if frames != "encoder_sequence":
            # a mask over audio frames: the cached encoder states are as long as the encoder makes them from that
            # many frames (Speech2Text's convolutions subsample by 4)
            from ..dummy_inputs.sizes import DEFAULT_SIZES

            length = torch.tensor(sizes.get(frames, DEFAULT_SIZES[frames]))
            states = self.model.get_encoder()._get_feat_extract_output_lengths(length)
            sizes = {**sizes, "encoder_sequence": int(states)}
        return self.parent._extra_dummy_inputs(sizes)


def _encoder_input(name: str) -> bool:
    return not name.startswith("decoder_") and not cache.is_past(name)


def generation_graphs(model, parent_config: OnnxConfig) -> list[tuple[str, torch.nn.Module, OnnxConfig]]:
    """(graph name, module, export config) of each graph of the layout, in the order they run."""
    main_output = "logits" if "logits" in parent_config.outputs else "last_hidden_state"
    encoder = EncoderGraph(model)
    decoder = DecoderGraph(model, main_output)
    encoder_config, decoder_config = EncoderGraphConfig(parent_config), DecoderGraphConfig(parent_config, main_output)
    encoder_config.bind_model(encoder)
    return [(ENCODER_GRAPH, encoder, encoder_config), (DECODER_GRAPH, decoder, decoder_config)]


class GenerationLayout(Layout):
    """Encoder-decoder models with a cache: the encoder graph, then the decoder graph step by step."""

    roles = ("encoder", "decoder")

    def is_default(self, onnx_config, feature: str) -> bool:
        return not is_image_text(feature) and onnx_config.is_seq2seq_graph and uses_cache(onnx_config)

    def refusal(self, onnx_config, feature: str, model_key: str) -> str | None:
        if is_image_text(feature):
            return image_text_only(feature, model_key)
        if not onnx_config.is_seq2seq_graph:
            return (
                f"--layout {self.name} is for encoder-decoder models; {model_key} --feature {feature} "
                "is not one (its -with-past export is already a single graph that generates)"
            )
        if not uses_cache(onnx_config):
            return f"--layout {self.name} needs a cache: use --feature {feature}-with-past"
        return None

    def graphs(self, model, onnx_config, preprocessor=None) -> list[PlannedGraph]:
        return [
            PlannedGraph(name, role, module, config)
            for role, (name, module, config) in zip(self.roles, generation_graphs(model, onnx_config))
        ]

    def decode(self, graphs, backend) -> Decode:
        return Decode(ENCODER_DECODER, 0)
