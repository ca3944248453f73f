"""Stage: layouts, how one export splits into graphs, as a registry the way formats are.

- `monolith`: one graph (`monolith.py`);
- `generation`: encoder + decoder graphs for encoder-decoder generation (`generation.py`);
- `vision-language`: vision + embedding + decoder graphs (`vision_language.py`);
- `merged`: encoder + one merged decoder for encoder-decoder generation, as Transformers.js and Optimum run them
  (`merged.py`).

The names are the manifest schema's (`output/manifest.py`); the plan, validation and the pipeline ask the registered
objects (`base.Layout`) and never compare names. `graph.py` holds the module and config every graph of a
multi-graph layout is built from.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError, did_you_mean
from ..output.manifest import LAYOUTS as LAYOUT_NAMES
from .base import Decode, Layout, PlannedGraph
from .generation import GenerationLayout
from .merged import MergedDecoderLayout
from .monolith import MonolithLayout
from .vision_language import VisionLanguageLayout

_CLASSES = (
    MonolithLayout,
    GenerationLayout,
    VisionLanguageLayout,
    MergedDecoderLayout,
)  # in the order of the schema's names
LAYOUTS: dict[str, Layout] = {name: cls(name) for name, cls in zip(LAYOUT_NAMES, _CLASSES, strict=True)}
SINGLE_GRAPH = LAYOUTS[LAYOUT_NAMES[0]]  # the seed's API exports and validates one graph

__all__ = ["Decode", "LAYOUTS", "Layout", "PlannedGraph", "SINGLE_GRAPH", "choose_layout", "get_layout"]


def get_layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise InvalidArgumentError(
            f"unknown layout '{name}';{did_you_mean(name, LAYOUTS)} choose one of {', '.join(LAYOUTS)}"
        )
    return LAYOUTS[name]


def choose_layout(onnx_config, feature: str, model_key: str, requested: str | None = None) -> Layout:
    """The requested layout, or the feature's default; refused in one line when it cannot export the feature."""
    if requested is not None:
        layout = get_layout(requested)
    else:
        layout = next(layout for layout in LAYOUTS.values() if layout.is_default(onnx_config, feature))
    reason = layout.refusal(onnx_config, feature, model_key)
    if reason:
        raise InvalidArgumentError(reason)
    return layout
