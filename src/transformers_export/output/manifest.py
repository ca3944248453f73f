"""`export.json`: the contract between the exporter and everything that opens an exported folder.

Schema (version 2):

    {
      "manifest_version": 2,
      "format": "onnx" | "torchscript" | "exported-program" | "aot-inductor",
      "source": the hub id, or the checkpoint folder's name (never its path), "source_is_folder": bool,
      "model_type": ..., "model_class": ..., "feature": ...,
      "architecture": "registered" (a registry entry) | "generic",
      "layout": "monolith" | "generation" | "vision-language" | "merged",
      "engine": capture strategy of the first graph, "opset": int or null,
      "files": [every file the export wrote, sorted], "target": the client layout (`--target`), when one was asked,
      "graphs": {
        file name: {
          "role": "model" | "encoder" | "decoder",
          "engine": ..., "opset": ..., "external_data": file name or null,
          "inputs": {name: {"axes": {"0": "batch", ...}, "dtype": "int64", "argument": Python argument name or null,
                            "shape": ["batch", "sequence"] (static sizes as numbers; absent in older folders)}},
          "outputs": {name: {"axes": {...}, "dtype": "float32", "shape": ["batch", "sequence", 384]}},
          "traced_shapes": {input name: [sizes]}, "pruned_inputs": [names the exporter removed]
        }
      },
      "float_graphs": {file name: as in "graphs"}: the float graphs a `--target` keeps beside quantized ones (absent
                      otherwise; "graphs" are the quantized ones, which readers use),
      "validation": the report (passed, atol, rtol, error, runs),
      "quantization": null or the preset ("int8", "int4-weight", ...),
      "versions": {package: version}
    }

Readers (the runtime) use `read_manifest` and the typed views below, never file-name literals. This module needs
only the standard library.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from ..errors import CheckpointError, first_line

MANIFEST = "export.json"
VERSION = 2
# The layouts' names, spelled here only: the registry (`layouts/`) binds each to its object. monolith: one graph, as
# transformers.onnx wrote it; generation: an encoder graph + a decoder graph with a KV cache, for encoder-decoder
# models; vision-language: vision + embedding + decoder graphs; merged: an encoder graph + one decoder graph that fills
# the cross-attention cache itself at its first step (Transformers.js' and Optimum's contract).
LAYOUTS = ("monolith", "generation", "vision-language", "merged")
MONOLITH, GENERATION, VISION_LANGUAGE, MERGED = LAYOUTS  # for data keyed by layout (`targets.py`)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    axes: dict[int, str]
    dtype: str | None
    argument: str | None = None
    # sizes as exported, an axis's name where it is dynamic; None in folders written before it was recorded
    shape: tuple[int | str, ...] | None = None


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
    stamp: tuple = ()  # the file's identity when it was read: see `unchanged`

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

    def unchanged(self) -> bool:
        """Whether `export.json` is still the file this was read from. An export commits into a folder by removing
        `export.json`, replacing its files and writing the new `export.json` last; a reader that opened the graphs
        between two reads of the same `export.json` has opened one export, never a mix."""
        return bool(self.stamp) and _stamp(self.folder / MANIFEST) == self.stamp


def _tensor(name: str, entry: Mapping) -> TensorInfo:
    shape = entry.get("shape")
    return TensorInfo(
        name,
        {int(axis): value for axis, value in entry["axes"].items()},
        entry.get("dtype"),
        entry.get("argument"),
        tuple(shape) if isinstance(shape, list) else None,
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


def source_entry(source: str) -> dict:
    """Where the export came from, as safe to publish: a hub id as given, a local checkpoint by its folder's name
    only (an absolute path would tell the user's directory layout to whoever gets the folder)."""
    path = Path(source)
    if path.exists():
        return {"source": path.resolve().name, "source_is_folder": True}
    return {"source": source, "source_is_folder": False}


def tensor_entry(axes: Mapping[int, str], dtype: str | None, argument: str | None = None, sizes=None) -> dict:
    """A tensor's record; `sizes`, one example's shape, gives its rank and static sizes (dynamic axes by name)."""
    entry = {"axes": {str(axis): name for axis, name in axes.items()}, "dtype": dtype}
    if argument is not None:
        entry["argument"] = argument
    if sizes is not None:
        entry["shape"] = [axes.get(axis, int(size)) for axis, size in enumerate(sizes)]
    return entry


def write_manifest(folder: Path, data: Mapping[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps({"manifest_version": VERSION, **data}, indent=2) + "\n")


MANIFEST_LIMIT = 64 * 2**20  # far above any real export.json; a bound on what a tampered folder makes us read


def read_manifest(folder: str | Path) -> Manifest:
    """Read and check `export.json`: a tampered or truncated one is refused in one line, never half-trusted."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.exists():
        raise CheckpointError(f"no such folder: '{folder}'; pass the folder an export was written into")
    if folder.is_file():
        raise CheckpointError(f"'{folder}' is a file; pass the exported folder (the one with {MANIFEST})")
    if not path.is_file():
        raise CheckpointError(
            f"no {MANIFEST} in '{folder}': it is not a folder written by transformers-export, or an export into it "
            "was cut short (export the model again)"
        )
    stamp = _stamp(path)
    try:
        with open(path, "rb") as file:
            text = file.read(MANIFEST_LIMIT + 1)
        if len(text) > MANIFEST_LIMIT:
            raise CheckpointError(
                f"{path} is larger than {MANIFEST_LIMIT // 2**20} MiB; it is not an export's manifest"
            )
        data = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{path} is not valid JSON: {first_line(error)}") from error
    version = data.get("manifest_version") if isinstance(data, dict) else None
    if version != VERSION:
        raise CheckpointError(
            f"{path} has manifest version {version}; this version of transformers-export reads version {VERSION} "
            "(export the model again)"
        )
    problem = _schema_problem(data)
    if problem:
        raise CheckpointError(f"{path} is damaged: {problem} (export the model again)")
    return Manifest(folder, data, stamp)


def _stamp(path: Path) -> tuple:
    try:
        info = os.stat(path)
    except OSError:
        return ()
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _schema_problem(data: Mapping) -> str | None:
    """What makes a manifest unusable, or None. Checked here once, so that readers may index it freely."""
    for key in ("format", "feature", "layout"):
        if not isinstance(data.get(key), str):
            return f"'{key}' is missing or not a string"
    graphs = data.get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        return "'graphs' is missing or empty"
    for file, entry in graphs.items():
        if not is_inside_folder(file):
            return f"the graph path '{file}' leaves the folder"
        if not isinstance(entry, dict):
            return f"the entry of graph '{file}' is not an object"
        external = entry.get("external_data")
        if external is not None and not (isinstance(external, str) and is_inside_folder(external)):
            return f"the external data path of '{file}' leaves the folder"
        for side in ("inputs", "outputs"):
            tensors = entry.get(side)
            if not isinstance(tensors, dict):
                return f"graph '{file}' has no '{side}'"
            for name, tensor in tensors.items():
                if not isinstance(tensor, dict) or not isinstance(tensor.get("axes"), dict):
                    return f"the {side[:-1]} '{name}' of graph '{file}' has no axes"
                if not all(str(axis).isdigit() for axis in tensor["axes"]):
                    return f"the {side[:-1]} '{name}' of graph '{file}' has an axis that is not a number"
    files = data.get("files", [])
    if not isinstance(files, list) or not all(isinstance(name, str) and is_inside_folder(name) for name in files):
        return "'files' holds a path that leaves the folder"
    return None


def is_inside_folder(relative: object) -> bool:
    """A relative POSIX path that stays inside the folder it is relative to ('..' and absolute paths leave it)."""
    if not isinstance(relative, str) or not relative or "\\" in relative or "\0" in relative:
        return False
    path = PurePosixPath(relative)
    return not path.is_absolute() and ".." not in path.parts


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("transformers-export", "torch", "transformers", "onnx", "onnxruntime", "onnxscript"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found
