"""The ONNX format: `export` (trace + write) and `validate_model_outputs` (run in ONNX Runtime, compare to PyTorch).

Lazy, so that the CLI can read engine names without importing torch.
"""

from importlib import import_module

_EXPORTS = {
    "ENGINES": "convert",
    "DEFAULT_ENGINE": "convert",
    "export": "convert",
    "export_onnx": "convert",
    "validate_model_outputs": "validate",
    "validate_onnx": "validate",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'transformers_export.onnx' has no attribute '{name}'")
