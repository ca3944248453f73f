"""Per-architecture knowledge as data: one `ArchitectureSpec` per model type, declared in the family modules
(`encoders`, `decoders`, `seq2seq`, `vision`, `audio`, `multimodal`) over the registry in `registry`."""

from .registry import (
    DEFAULT_ONNX_OPSET,
    MIN_ONNX_OPSET,
    ArchitectureSpec,
    all_specs,
    check_feature,
    declare,
    find_spec,
    get_spec,
    normalize_model_type,
    register,
    spec_for_feature,
)

# each family registers its specs on import
from . import audio, decoders, encoders, generic, multimodal, seq2seq, vision  # noqa: E402,F401

__all__ = [
    "DEFAULT_ONNX_OPSET",
    "MIN_ONNX_OPSET",
    "ArchitectureSpec",
    "all_specs",
    "check_feature",
    "declare",
    "find_spec",
    "get_spec",
    "normalize_model_type",
    "register",
    "spec_for_feature",
]
