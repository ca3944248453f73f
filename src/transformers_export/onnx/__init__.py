"""The ONNX format: `export` (trace + write) and `validate_model_outputs` (run in ONNX Runtime, compare to PyTorch)."""

from .export import ENGINES, export, export_onnx
from .validate import validate_model_outputs, validate_onnx

__all__ = ["ENGINES", "export", "export_onnx", "validate_model_outputs", "validate_onnx"]
