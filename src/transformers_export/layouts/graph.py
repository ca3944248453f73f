"""One graph of a layout with several (the encoder-decoder generation layout, the vision-language layout).

A graph is a small `GraphModule` over the loaded model (`graph.model`); its `GraphConfig` declares the graph's own
inputs and outputs and takes everything else from the feature's config (`parent`): tolerance, opsets, config
overrides, and the cache's layer shapes and dummy tensors, learnt from the model when bound.
"""

from __future__ import annotations

import torch

from ..config import OnnxConfig


class GraphModule(torch.nn.Module):
    """The module of one graph: the loaded model under it, in eval mode, with its config."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.eval()

    @property
    def config(self):
        return self.model.config


class GraphConfig(OnnxConfig):
    def __init__(self, parent: OnnxConfig):
        super().__init__(parent._config, task="default")
        self.parent = parent

    def layer_shapes(self):
        return self.parent.layer_shapes()

    @property
    def layer_count(self) -> int:
        return len(self.parent.layer_shapes())

    @property
    def values_override(self):
        return {**(self.parent.values_override or {}), "use_cache": True}

    @property
    def atol_for_validation(self) -> float:
        return self.parent.atol_for_validation

    @property
    def traced_attention(self) -> str | None:
        return self.parent.traced_attention

    @property
    def default_onnx_opset(self) -> int:
        return self.parent.default_onnx_opset

    @property
    def min_onnx_opset(self) -> int:
        return self.parent.min_onnx_opset

    def bind_model(self, graph) -> None:
        super().bind_model(graph)
        self.model = graph.model
        self.parent.bind_model(graph.model)
