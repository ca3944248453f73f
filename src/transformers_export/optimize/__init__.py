"""The optional last stage: rewrite validated ONNX graphs to run faster, then validate them again."""

from .quantize import QUANTIZATIONS, quantize_graphs

__all__ = ["QUANTIZATIONS", "quantize_graphs"]
