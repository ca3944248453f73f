"""Exported ONNX folders used like transformers models: a class per task (`OnnxModelFor*.from_pretrained(folder)`),
`transformers.pipeline()` support, and generation (greedy, beam search, sampling) in ONNX Runtime without PyTorch."""

from .heads import (
    OnnxModelForAudioClassification,
    OnnxModelForAudioFrameClassification,
    OnnxModelForCTC,
    OnnxModelForFeatureExtraction,
    OnnxModelForImageClassification,
    OnnxModelForMaskedImageModeling,
    OnnxModelForMaskedLM,
    OnnxModelForMultipleChoice,
    OnnxModelForObjectDetection,
    OnnxModelForQuestionAnswering,
    OnnxModelForSemanticSegmentation,
    OnnxModelForSequenceClassification,
    OnnxModelForTokenClassification,
    OnnxModelForZeroShotImageClassification,
)
from .decoder import OnnxDecoder
from .encoder_decoder import OnnxEncoderDecoder
from .generation import greedy_generate
from .text_generation import OnnxModelForCausalLM, OnnxModelForSeq2SeqLM
from .base import OnnxModel, class_for_feature
from .rules import GenerationSettings
from .speech import OnnxModelForSpeechSeq2Seq
from .image_text_to_text import OnnxModelForImageTextToText


def from_pretrained(folder, **options) -> OnnxModel:
    """Open an exported ONNX folder with the class for its feature (read from export.json)."""
    from ..output.manifest import read_manifest

    return class_for_feature(read_manifest(folder).feature).from_pretrained(folder, **options)


__all__ = [
    "GenerationSettings",
    "OnnxDecoder",
    "OnnxEncoderDecoder",
    "OnnxModel",
    "OnnxModelForAudioClassification",
    "OnnxModelForAudioFrameClassification",
    "OnnxModelForCTC",
    "OnnxModelForCausalLM",
    "OnnxModelForFeatureExtraction",
    "OnnxModelForImageClassification",
    "OnnxModelForImageTextToText",
    "OnnxModelForMaskedImageModeling",
    "OnnxModelForMaskedLM",
    "OnnxModelForMultipleChoice",
    "OnnxModelForObjectDetection",
    "OnnxModelForQuestionAnswering",
    "OnnxModelForSemanticSegmentation",
    "OnnxModelForSeq2SeqLM",
    "OnnxModelForSequenceClassification",
    "OnnxModelForSpeechSeq2Seq",
    "OnnxModelForTokenClassification",
    "OnnxModelForZeroShotImageClassification",
    "class_for_feature",
    "from_pretrained",
    "greedy_generate",
]
