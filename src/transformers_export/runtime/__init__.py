"""Running exported graphs in ONNX Runtime without PyTorch: step-by-step decoding, greedy, beam-search and sampled generation."""

from .decoder import OnnxDecoder
from .encoder_decoder import OnnxEncoderDecoder
from .generation import GenerationSettings, OnnxModelForCausalLM, OnnxModelForSeq2SeqLM, greedy_generate

__all__ = [
    "GenerationSettings",
    "OnnxDecoder",
    "OnnxEncoderDecoder",
    "OnnxModelForCausalLM",
    "OnnxModelForSeq2SeqLM",
    "greedy_generate",
]
