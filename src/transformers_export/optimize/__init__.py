"""The optional last stage: rewrite validated ONNX graphs to run faster, then validate them again."""

from .presets import PRESETS, QUANTIZATIONS, Preset
from .quantize import quantize_graphs
from .rewrite import quantize_graph

__all__ = ["PRESETS", "QUANTIZATIONS", "Preset", "quantize_graph", "quantize_graphs"]
