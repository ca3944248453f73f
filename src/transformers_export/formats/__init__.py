"""Formats as backends: importing this package registers `onnx`, `torchscript`, `exported-program` and
`aot-inductor`."""

from . import aot_inductor, onnx, pytorch  # noqa: F401  (each registers its backends on import)
from .base import Backend, ExportedGraph, TraceOptions, backend_names, get_backend, register_backend

__all__ = ["Backend", "ExportedGraph", "TraceOptions", "backend_names", "get_backend", "register_backend"]
