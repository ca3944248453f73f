"""The seed's face, `transformers.onnx` renamed: `from transformers_export.onnx import OnnxConfig, export,
validate_model_outputs` works as the seed's imports did. The engine lives in `formats/onnx/`, validation in
`validation/`; this module only names them.

Lazy, so that the CLI can read engine names without importing torch.
"""

from importlib import import_module

# public name -> module, relative to the package
_EXPORTS = {
    "ENGINES": "formats.onnx.convert",
    "DEFAULT_ENGINE": "formats.onnx.convert",
    "export": "formats.onnx.convert",
    "export_onnx": "formats.onnx.convert",
    "validate_model_outputs": "validation.model_outputs",
    "validate_onnx": "validation.model_outputs",
    "OnnxConfig": "config",
    "OnnxConfigWithPast": "config",
    "OnnxSeq2SeqConfigWithPast": "config",
    "PatchingSpec": "config",
    "FeaturesManager": "features",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__package__.rsplit('.', 1)[0]}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'transformers_export.onnx' has no attribute '{name}'")
