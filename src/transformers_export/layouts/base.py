"""The layout protocol: how one export splits into graphs, and what validation decodes through them.

A layout is registered under a name from the manifest schema (`layouts/__init__.py`). The plan asks it whether it
can export a feature and for its graphs; validation asks it which decode checks the graphs with a cache; the runtime
reads the graph roles it recorded in `export.json`. Nothing else needs to know which layout it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..tasks import WITH_PAST_SUFFIX, task_of

# the decodes validation runs (`validation/loop.py`): the graph at `graph` alone with its self-attention cache; an
# encoder graph then a decoder graph; or the seed's single encoder-decoder graph taking the cross-attention cache
DECODER, ENCODER_DECODER, SEQ2SEQ_GRAPH = "decoder", "encoder-decoder", "seq2seq-graph"


@dataclass(frozen=True)
class PlannedGraph:
    name: str  # without suffix: model, encoder_model, decoder_model
    role: str  # as export.json records it: model, encoder, decoder, vision, embed
    module: Any  # torch.nn.Module
    config: Any  # OnnxConfig


@dataclass(frozen=True)
class Decode:
    kind: str  # DECODER, ENCODER_DECODER or SEQ2SEQ_GRAPH
    graph: int  # the graph that decodes (ENCODER_DECODER: the encoder, the decoder follows it)


class Layout(ABC):
    roles: tuple[str, ...]  # the graphs' roles, in the order they are planned and recorded

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<layout {self.name}>"

    @abstractmethod
    def is_default(self, onnx_config, feature: str) -> bool:
        """Whether a feature gets this layout when none is asked for (exactly one layout says yes)."""

    @abstractmethod
    def refusal(self, onnx_config, feature: str, model_key: str) -> str | None:
        """Why this layout cannot export `feature`, as the one line the user sees; None when it can."""

    @abstractmethod
    def graphs(self, model, onnx_config, preprocessor=None) -> list[PlannedGraph]:
        """The graphs to trace, in the order of `roles`."""

    @abstractmethod
    def decode(self, graphs, backend) -> Decode | None:
        """The decode validation runs after the fixed shapes, or None for graphs without a cache."""


def image_text_only(feature: str, model_key: str) -> str:
    """The refusal every layout but the vision-language one gives an image-text-to-text feature."""
    return (
        f"{model_key} exports '{feature}' only as the vision-language layout: "
        f"use --feature image-text-to-text{WITH_PAST_SUFFIX}"
    )


def is_image_text(feature: str) -> bool:
    return task_of(feature) == "image-text-to-text"


def uses_cache(onnx_config) -> bool:
    return bool(getattr(onnx_config, "use_past", False))
