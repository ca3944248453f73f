"""`export.json`: the contract between the exporter and everything that opens an exported folder.

Schema (version 2):

    {
      "manifest_version": 2,
      "format": "onnx" | "torchscript" | "exported-program" | "aot-inductor",
      "source": checkpoint folder or hub id, "model_type": ..., "model_class": ..., "feature": ...,
      "architecture": "registered" (a registry entry) | "generic",
      "layout": "monolith" | "generation" | "vision-language",
      "engine": capture strategy of the first graph, "opset": int or null,
      "files": [every file the export wrote, sorted],
      "graphs": {
        file name: {
          "role": "model" | "encoder" | "decoder",
          "engine": ..., "opset": ..., "external_data": file name or null,
          "inputs": {name: {"axes": {"0": "batch", ...}, "dtype": "int64", "argument": Python argument name or null}},
          "outputs": {name: {"axes": {...}, "dtype": "float32"}},
          "traced_shapes": {input name: [sizes]}, "pruned_inputs": [names the exporter removed]
        }
      },
      "validation": the report (passed, atol, rtol, error, runs),
      "quantization": null or the preset ("int8", "int4-weight", ...),
      "versions": {package: version}
    }

Readers (the runtime) use `read_manifest` and the typed views below, never file-name literals. This module needs
only the standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import CheckpointError

MANIFEST = "export.json"
VERSION = 2
# The layouts' names, spelled here only: the registry (`layouts/`) binds each to its object. monolith: one graph, as
# transformers.onnx wrote it; generation: an encoder graph + a decoder graph with a KV cache, for encoder-decoder
# models; vision-language: vision + embedding + decoder graphs.
LAYOUTS = ("monolith", "generation", "vision-language")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    axes: dict[int, str]
    dtype: str | None
    argument: str | None = None


@dataclass(frozen=True)
class GraphInfo:
    file: str
    role: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    external_data: str | None
    engine: str | None
    opset: int | None


@dataclass(frozen=True)
class Manifest:
    folder: Path
    data: Mapping[str, Any]

    @property
    def format(self) -> str:
        return self.data["format"]

    @property
    def feature(self) -> str:
        return self.data["feature"]

    @property
    def layout(self) -> str:
        return self.data["layout"]

    @property
    def graphs(self) -> dict[str, GraphInfo]:
        return {file: _graph_info(file, entry) for file, entry in self.data["graphs"].items()}

    def graph(self, file: str) -> GraphInfo:
        return self.graphs[file]

    def has_role(self, role: str) -> bool:
        """Readers ask for the graphs they need (an encoder graph, a vision graph), never for a layout's name."""
        return any(info.role == role for info in self.graphs.values())

    def role(self, role: str) -> GraphInfo:
        """The graph with this role; a clear error when the export has none (e.g. a model without a decoder)."""
        for info in self.graphs.values():
            if info.role == role:
                return info
        roles = sorted(info.role for info in self.graphs.values())
        raise CheckpointError(f"the export in '{self.folder}' has no {role} graph (it has: {', '.join(roles)})")

    def path(self, role: str) -> Path:
        return self.folder / self.role(role).file


def _tensor(name: str, entry: Mapping) -> TensorInfo:
    return TensorInfo(
        name, {int(axis): value for axis, value in entry["axes"].items()}, entry.get("dtype"), entry.get("argument")
    )


def _graph_info(file: str, entry: Mapping) -> GraphInfo:
    return GraphInfo(
        file=file,
        role=entry.get("role", "model"),
        inputs={name: _tensor(name, value) for name, value in entry["inputs"].items()},
        outputs={name: _tensor(name, value) for name, value in entry["outputs"].items()},
        external_data=entry.get("external_data"),
        engine=entry.get("engine"),
        opset=entry.get("opset"),
    )


def tensor_entry(axes: Mapping[int, str], dtype: str | None, argument: str | None = None) -> dict:
    entry = {"axes": {str(axis): name for axis, name in axes.items()}, "dtype": dtype}
    if argument is not None:
        entry["argument"] = argument
    return entry


def write_manifest(folder: Path, data: Mapping[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps({"manifest_version": VERSION, **data}, indent=2) + "\n")


def read_manifest(folder: str | Path) -> Manifest:
    folder = Path(folder)
    path = folder / MANIFEST
    if folder.is_file():
        raise CheckpointError(f"'{folder}' is a file; pass the exported folder (the one with {MANIFEST})")
    if not path.is_file():
        raise CheckpointError(
            f"no {MANIFEST} in '{folder}': it is not a folder written by transformers-export (export the model again)"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error
    version = data.get("manifest_version") if isinstance(data, dict) else None
    if version != VERSION:
        raise CheckpointError(
            f"{path} has manifest version {version}; this version of transformers-export reads version {VERSION} "
            "(export the model again)"
        )
    return Manifest(folder, data)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("transformers-export", "torch", "transformers", "onnx", "onnxruntime", "onnxscript"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found
