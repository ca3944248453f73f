"""`transformers-export inspect`: what an exported folder or graph file holds, for people (`render`) and scripts
(`describe`, JSON-ready).

Per graph: inputs and outputs with their symbolic axes and types, opset, file sizes and external data, and an
operator histogram (nodes inside subgraphs and local functions counted too). Per folder: the `export.json` summary
(feature, format, validation, quantization). Only the graph's structure is read; weights stay on disk.
"""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path

from ..cli.console import table
from ..errors import CheckpointError
from .manifest import MANIFEST, read_manifest

GRAPH_SUFFIXES = (".onnx", ".pt", ".pt2")


def _tensor_type(value) -> tuple[str, list]:
    from onnx import TensorProto

    tensor = value.type.tensor_type
    dtype = TensorProto.DataType.Name(tensor.elem_type).lower() if tensor.elem_type else "?"
    shape = [dim.dim_param or (dim.dim_value if dim.HasField("dim_value") else "?") for dim in tensor.shape.dim]
    return dtype, shape


def _count_operators(graph, counts: Counter) -> None:
    from onnx import AttributeProto

    for node in graph.node:
        counts[node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"] += 1
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                _count_operators(attribute.g, counts)
            elif attribute.type == AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    _count_operators(subgraph, counts)


def describe_onnx(path: Path) -> dict:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise CheckpointError(
            f"'{path}' is not a readable ONNX file ({type(error).__name__}); export it again"
        ) from error
    counts: Counter = Counter()
    _count_operators(model.graph, counts)
    for function in model.functions:
        for node in function.node:
            counts[node.op_type] += 1
    external = sorted(
        {entry.value for tensor in model.graph.initializer for entry in tensor.external_data if entry.key == "location"}
    )
    initializers = {tensor.name for tensor in model.graph.initializer}
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "external_data": [
            {"file": name, "bytes": (path.parent / name).stat().st_size if (path.parent / name).is_file() else None}
            for name in external
        ],
        "opset": next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [
            dict(zip(("name", "dtype", "shape"), (value.name, *_tensor_type(value))))
            for value in model.graph.input
            if value.name not in initializers
        ],
        "outputs": [
            dict(zip(("name", "dtype", "shape"), (value.name, *_tensor_type(value)))) for value in model.graph.output
        ],
        "operators": dict(counts.most_common()),
        "nodes": sum(counts.values()),
    }


def _axes_only(axes: dict[int, str]) -> list:
    """A folder written before shapes were recorded: its dynamic axes, "?" between them, and a rank that may be short
    (static trailing axes are not known)."""
    return [axes.get(i, "?") for i in range(max(axes, default=-1) + 1)]


def _describe_from_manifest(path: Path, graph) -> dict:
    """TorchScript / torch.export files: their I/O as export.json records it (no operator histogram)."""

    def tensors(entries):
        return [
            {
                "name": t.name,
                "dtype": t.dtype,
                "shape": list(t.shape) if t.shape is not None else _axes_only(t.axes),
            }
            for t in entries.values()
        ]

    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "external_data": [],
        "opset": None,
        "producer": None,
        "inputs": tensors(graph.inputs),
        "outputs": tensors(graph.outputs),
        "operators": {},
        "nodes": None,
    }


def _largest_difference(runs) -> float | None:
    found = [output.get("max_abs_diff") for run in runs for output in run.get("outputs", {}).values()]
    found = [value for value in found if value is not None]
    return max(found) if found else None


def _summary(manifest) -> dict:
    data = manifest.data
    validation = data.get("validation") or {}
    return {
        "source": data.get("source"),
        "model_type": data.get("model_type"),
        "model_class": data.get("model_class"),
        "feature": data.get("feature"),
        "format": data.get("format"),
        "architecture": data.get("architecture"),
        "layout": data.get("layout"),
        "engine": data.get("engine"),
        "quantization": data.get("quantization"),
        "validation": {key: validation.get(key) for key in ("passed", "atol", "rtol") if key in validation}
        | {
            "runs": len(validation.get("runs", [])),
            "largest_difference": _largest_difference(validation.get("runs", [])),
        },
        "versions": data.get("versions", {}),
    }


ONNX_LIMIT = 2**31  # protobuf's limit: a larger .onnx file is not a graph (weights beyond it live in external data)


def _kind(path: Path) -> str:
    """'folder', 'file' (regular), 'missing' or 'other' (a FIFO, a device, a socket): only the first two are read,
    so that a FIFO never blocks and /dev/zero is never read until memory runs out."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as error:  # a name too long, a loop of symlinks, no permission
        raise CheckpointError(f"cannot read '{path}': {error.strerror or error}") from error
    return "folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def describe(path: str | Path) -> dict:
    path = Path(path)
    kind = _kind(path)
    if kind == "missing":
        raise CheckpointError(f"'{path}' does not exist; pass an exported folder or a graph file (.onnx, .pt, .pt2)")
    if kind == "other":
        raise CheckpointError(f"'{path}' is not a regular file or folder; pass an exported folder or a graph file")
    folder = path if kind == "folder" else path.parent
    manifest = read_manifest(folder) if _kind(folder / MANIFEST) == "file" else None
    if kind == "folder":
        if manifest is None:
            raise CheckpointError(f"no {MANIFEST} in '{path}': pass an exported folder, or one graph file in it")
        files = [folder / name for name in manifest.data["graphs"]]
    elif path.suffix in GRAPH_SUFFIXES:
        files = [path]
    else:
        raise CheckpointError(f"'{path}' is not a graph file; pass an exported folder or a .onnx, .pt or .pt2 file")
    for file in files:
        if _kind(file) != "file":
            raise CheckpointError(f"'{file}' is missing or not a regular file; export the model again")
        if file.suffix == ".onnx" and file.stat().st_size > ONNX_LIMIT:
            raise CheckpointError(f"'{file}' is larger than 2 GiB, which no ONNX graph file can be")
    graphs = []
    for file in files:
        if file.suffix == ".onnx":
            graphs.append(describe_onnx(file))
        elif manifest is not None and file.name in manifest.data["graphs"]:
            graphs.append(_describe_from_manifest(file, manifest.graph(file.name)))
        else:
            raise CheckpointError(
                f"'{file}' has no {MANIFEST} beside it to describe its inputs; only .onnx files are read alone"
            )
    for graph, file in zip(graphs, files):  # a graph in a subfolder (a --target's onnx/) is named by its path in it
        graph["file"] = file.relative_to(folder).as_posix() if kind == "folder" else file.name
    return {"path": str(path), "export": _summary(manifest) if manifest else None, "graphs": graphs}


def _size(count: int | None) -> str:
    if count is None:
        return "missing"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


def render(description: dict, top_operators: int = 15) -> str:
    lines = []
    export = description["export"]
    if export:
        lines.append(
            f"{description['path']}: {export['format']} export of {export['model_type']} ({export['model_class']}) "
            f"for '{export['feature']}' from {export['source']}"
        )
        validation = export["validation"]
        verdict = (
            "passed" if validation.get("passed") else "FAILED" if validation.get("passed") is False else "not recorded"
        )
        detail = ", ".join(
            f"{key.replace('_', ' ')} {value:.3g}" if isinstance(value, float) else f"{key.replace('_', ' ')} {value}"
            for key, value in validation.items()
            if key != "passed" and value is not None
        )
        lines.append(f"  validation: {verdict} ({detail})")
        lines.append(
            f"  architecture: {export['architecture']}, layout: {export['layout']}, engine: {export['engine']}, "
            f"quantization: {export['quantization'] or 'none'}"
        )
    for graph in description["graphs"]:
        lines.append("")
        external = ", ".join(f"{item['file']} {_size(item['bytes'])}" for item in graph["external_data"]) or "none"
        opset = f", opset {graph['opset']}" if graph["opset"] else ""
        lines.append(f"{graph['file']}: {_size(graph['bytes'])}{opset}, external data: {external}")
        for kind in ("inputs", "outputs"):
            rows = [[t["name"], t["dtype"], "(" + ", ".join(str(d) for d in t["shape"]) + ")"] for t in graph[kind]]
            lines.extend("  " + line for line in table(rows, [kind[:-1], "type", "shape"]))
        if graph["operators"]:
            shown = list(graph["operators"].items())[:top_operators]
            rest = len(graph["operators"]) - len(shown)
            lines.append(
                f"  operators ({graph['nodes']} nodes, {len(graph['operators'])} kinds): "
                + ", ".join(f"{name} {count}" for name, count in shown)
                + (f", ... {rest} more kinds" if rest > 0 else "")
            )
    return "\n".join(lines)
