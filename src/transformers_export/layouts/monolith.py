"""The monolith layout: one graph, as transformers.onnx wrote it. Encoders, decoders with or without a cache (one
graph that also serves the first step), and, on request, the seed's single encoder-decoder graph that takes the
cross-attention cache as an input."""

from __future__ import annotations

from ..tasks import task_of
from .base import DECODER, SEQ2SEQ_GRAPH, Decode, Layout, PlannedGraph, image_text_only, is_image_text, uses_cache


class MonolithLayout(Layout):
    roles = ("model",)

    def is_default(self, onnx_config, feature: str) -> bool:
        return not is_image_text(feature) and not (onnx_config.is_seq2seq_graph and uses_cache(onnx_config))

    def refusal(self, onnx_config, feature: str, model_key: str) -> str | None:
        if is_image_text(feature):
            return image_text_only(feature, model_key)
        if uses_cache(onnx_config) and task_of(feature) == "speech2seq-lm":
            return (
                f"{model_key} --feature {feature} exports the generation layout only (the seed's single graph with a "
                "cache is for text encoder-decoders); drop --layout"
            )
        return None

    def graphs(self, model, onnx_config, preprocessor=None) -> list[PlannedGraph]:
        return [PlannedGraph("model", "model", model, onnx_config)]

    def decode(self, graphs, backend) -> Decode | None:
        config = graphs[0].config
        if not uses_cache(config):
            return None
        if not config.is_seq2seq_graph:
            return Decode(DECODER, 0)
        return Decode(SEQ2SEQ_GRAPH, 0) if backend.decodes_seq2seq_monolith else None
