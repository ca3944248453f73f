"""Running exported graphs in ONNX Runtime without PyTorch: step-by-step decoding and greedy generation."""

from .decoder import OnnxDecoder
from .generation import OnnxModelForCausalLM, greedy_generate

__all__ = ["OnnxDecoder", "OnnxModelForCausalLM", "greedy_generate"]
