"""transformers-export: export 🤗 Transformers models to ONNX (and TorchScript / torch.export), validated.

Imports are lazy so that `import transformers_export` and the CLI's --help stay fast; torch, transformers and
onnxruntime load when a name that needs them is used.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "OnnxConfig": "config",
    "OnnxConfigWithPast": "config",
    "OnnxSeq2SeqConfigWithPast": "config",
    "PatchingSpec": "config",
    "ParameterFormat": "config",
    "EXTERNAL_DATA_FORMAT_SIZE_LIMIT": "config",
    "compute_serialized_parameters_size": "config",
    "compute_effective_axis_dimension": "config",
    "FeaturesManager": "features",
    "export": "formats.onnx.convert",
    "export_onnx": "formats.onnx.convert",
    "validate_model_outputs": "validation.model_outputs",
    "validate_onnx": "validation.model_outputs",
    "export_model": "pipeline",
    "run_export": "pipeline",
    "ExportRequest": "resolve.plan",
    "ExportResult": "pipeline",
    "read_manifest": "output.manifest",
    "ExportError": "errors",
    "InvalidArgumentError": "errors",
    "UnsupportedModelError": "errors",
    "UnsupportedFeatureError": "errors",
    "CheckpointError": "errors",
    "PreprocessorError": "errors",
    "TraceError": "errors",
    "ValidationError": "errors",
    "MissingDependencyError": "errors",
    "OutputError": "errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transformers_export' has no attribute '{name}'")


def __dir__():
    return sorted(__all__)
