"""The whole export, stage by stage: resolve -> dummy inputs -> trace + write -> validate -> commit -> manifest.

Everything is written into a staging folder next to the output and moved into place only after validation passed,
so a failed or interrupted export leaves the output folder as it was.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .errors import InvalidArgumentError, ValidationError
from .onnx.convert import DEFAULT_ENGINE, default_opset, export_onnx, store_shared_weights
from .onnx.validate import validate_generation_layout, validate_onnx
from .resolve import resolve
from .validation import ValidationReport

logger = logging.getLogger(__name__)

MANIFEST = "export.json"
ONNX_FILE = "model.onnx"

StageCallback = Callable[[str, float], None]
# monolith: one model.onnx, as transformers.onnx wrote it. generation: encoder_model.onnx + decoder_model.onnx with
# a KV cache, for encoder-decoder models (see seq2seq.py).
LAYOUTS = ("monolith", "generation")


def choose_layout(resolved, requested: str | None) -> str:
    """Encoder-decoder `-with-past` features default to the generation layout; everything else is one graph."""
    from .config import OnnxSeq2SeqConfigWithPast

    seq2seq = isinstance(resolved.onnx_config, OnnxSeq2SeqConfigWithPast)
    with_past = getattr(resolved.onnx_config, "use_past", False)
    if requested == "generation" and not seq2seq:
        raise InvalidArgumentError(
            f"--layout generation is for encoder-decoder models; {resolved.model_type} --feature {resolved.feature} "
            "is not one (its -with-past export is already a single graph that generates)"
        )
    if requested == "generation" and not with_past:
        raise InvalidArgumentError(f"--layout generation needs a cache: use --feature {resolved.feature}-with-past")
    if requested is not None:
        return requested
    return "generation" if seq2seq and with_past else "monolith"


FORMATS = ("onnx", "torchscript", "exported-program")
_SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}


def _check_format_options(format: str, opset, engine, tracer, untie_weights: bool, quantize) -> None:
    from .optimize import QUANTIZATIONS

    if format not in FORMATS:
        raise InvalidArgumentError(f"unknown format '{format}'; choose one of {', '.join(FORMATS)}")
    if quantize not in (None, *QUANTIZATIONS):
        raise InvalidArgumentError(f"unknown quantization '{quantize}'; choose one of {', '.join(QUANTIZATIONS)}")
    if format != "onnx":
        for flag, value in (("--opset", opset), ("--engine", engine), ("--quantize", quantize)):
            if value is not None:
                raise InvalidArgumentError(f"{flag} applies to --format onnx only, not to --format {format}")
    if format != "torchscript":
        for flag, value in (("--tracer", tracer), ("--untie-weights", untie_weights)):
            if value:
                raise InvalidArgumentError(f"{flag} applies to --format torchscript only, not to --format {format}")


def _trace_sizes(batch_size: int | None, sequence_length: int | None) -> dict[str, int]:
    sizes = {}
    for flag, axis, value in (("--batch-size", "batch", batch_size), ("--sequence-length", "sequence", sequence_length)):
        if value is not None:
            if value < 1:
                raise InvalidArgumentError(f"{flag} must be at least 1, got {value}")
            sizes[axis] = value
    return sizes


def _graphs(resolved, layout: str, format: str) -> list:
    if layout == "generation":
        from .seq2seq import generation_graphs

        graphs = generation_graphs(resolved.model, resolved.onnx_config)
    else:
        graphs = [(ONNX_FILE, resolved.model, resolved.onnx_config)]
    return [(Path(name).with_suffix(_SUFFIXES[format]).name, module, config) for name, module, config in graphs]


def _export_graph(format, module, config, path, opset, engine, preprocessor, tracer, trace_sizes):
    if format == "onnx":
        return export_onnx(module, config, opset, path, engine=engine, preprocessor=preprocessor, trace_sizes=trace_sizes)
    from .torchscript import export_torch, load_tracer

    return export_torch(module, config, path, format, tracer=load_tracer(tracer), trace_sizes=trace_sizes)


def _quantize(graphs, exports, resolved, layout: str, staging: Path, atol: float) -> list:
    """Quantize the validated graphs in place and validate them again, by similarity; the runs of that validation."""
    from .onnx.convert import SHARED_WEIGHTS
    from .optimize import quantize_graphs
    from .optimize.quantize import MIN_COSINE

    quantize_graphs([exported.path for exported in exports], SHARED_WEIGHTS if len(exports) > 1 else None)
    runs = _validate("onnx", graphs, exports, resolved, layout, staging, atol, min_cosine=MIN_COSINE).runs
    for run in runs:
        run.graph = f"{run.graph or ONNX_FILE} (int8)"
    return runs


def _validate(format, graphs, exports, resolved, layout: str, staging: Path, atol: float, min_cosine=None) -> ValidationReport:
    """Every graph against PyTorch, then, for the generation layout, a decode through the files together."""
    report = None
    for (_, module, config), exported in zip(graphs, exports):
        if format == "onnx":
            graph_report = validate_onnx(
                config, resolved.preprocessor, module, exported.path, exported.output_names, atol, min_cosine=min_cosine
            )
        else:
            from .torchscript import validate_torch

            graph_report = validate_torch(config, module, exported, atol)
        if report is None:
            report = graph_report
        else:
            report.runs.extend(graph_report.runs)
    if format == "onnx" and layout == "generation" and report.passed:
        report.runs.extend(validate_generation_layout(resolved.onnx_config, resolved.model, staging, atol, min_cosine))
    return report


@dataclass
class ExportResult:
    output_dir: Path
    files: list[str]
    layout: str
    format: str
    graph_files: list[str]
    model_type: str
    feature: str
    opset: int
    engine: str
    atol: float
    validation: ValidationReport
    manifest: dict
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        """The file to load; for the generation layout, the folder (its graphs run together)."""
        return self.output_dir / self.graph_files[0] if len(self.graph_files) == 1 else self.output_dir


class _Stages:
    def __init__(self, on_stage: StageCallback | None):
        self.on_stage = on_stage
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        if self.on_stage:
            self.on_stage(name, self.seconds[name])


def _check_output(output: Path) -> None:
    if output.suffix == ".onnx":
        raise InvalidArgumentError(f"output '{output}' looks like a file; pass a folder (model.onnx is written inside it)")
    if output.exists() and not output.is_dir():
        raise InvalidArgumentError(f"output '{output}' exists and is not a folder")
    ancestor = output.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidArgumentError(f"cannot create output '{output}': '{ancestor}' is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"output '{output}' is not writable (no write permission on '{ancestor}')")


def _check_atol(atol: float | None) -> None:
    if atol is not None and not (atol > 0):
        raise InvalidArgumentError(f"--atol must be a positive number, got {atol}")


def export_model(
    model: str,
    output: str | os.PathLike,
    feature: str = "default",
    opset: int | None = None,
    atol: float | None = None,
    preprocessor: str = "auto",
    cache_dir: str | None = None,
    framework: str | None = None,
    engine: str | None = None,
    layout: str | None = None,
    format: str = "onnx",
    tracer: str | None = None,
    untie_weights: bool = False,
    batch_size: int | None = None,
    sequence_length: int | None = None,
    quantize: str | None = None,
    on_stage: StageCallback | None = None,
) -> ExportResult:
    """Export `model` (folder or hub id) for `feature` into the folder `output`, validated; see the CLI for options."""
    output = Path(output)
    _check_output(output)
    _check_atol(atol)
    if layout not in (None, *LAYOUTS):
        raise InvalidArgumentError(f"unknown layout '{layout}'; choose one of {', '.join(LAYOUTS)}")
    _check_format_options(format, opset, engine, tracer, untie_weights, quantize)
    trace_sizes = _trace_sizes(batch_size, sequence_length)
    engine = engine or DEFAULT_ENGINE
    stage = _Stages(on_stage)

    with stage("resolve"):
        resolved = resolve(model, feature, preprocessor, cache_dir, framework)
    onnx_config = resolved.onnx_config
    layout = choose_layout(resolved, layout)
    if format == "onnx":
        opset = opset if opset is not None else default_opset(onnx_config, engine)
    atol = atol if atol is not None else onnx_config.atol_for_validation

    with _staged(output) as staging:
        graphs = _graphs(resolved, layout, format)
        if untie_weights:
            from .torchscript import untie_weights as untie

            untie(resolved.model)
        with stage("trace"):
            exports = [
                _export_graph(format, module, config, staging / name, opset, engine, resolved.preprocessor, tracer, trace_sizes)
                for name, module, config in graphs
            ]
        with stage("validate"):
            report = _validate(format, graphs, exports, resolved, layout, staging, atol)
        if not report.passed:
            raise ValidationError(report.error, report)
        if format == "onnx" and len(exports) > 1:
            store_shared_weights([exported.path for exported in exports])
        if quantize:
            with stage("quantize"):
                report.runs.extend(_quantize(graphs, exports, resolved, layout, staging, atol))
            if not report.passed:
                raise ValidationError(report.error, report)
        with stage("write"):
            resolved.model.config.save_pretrained(staging)
            generation_config = getattr(resolved.model, "generation_config", None)
            if generation_config is not None and resolved.model.can_generate():
                generation_config.save_pretrained(staging)
            if resolved.preprocessor is not None:
                resolved.preprocessor.save_pretrained(str(staging))
            manifest = _manifest(resolved, exports, [config for _, _, config in graphs], report, layout, format)
            manifest["quantization"] = quantize
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            files = sorted(path.name for path in staging.iterdir())

    return ExportResult(
        output_dir=output,
        files=files,
        layout=layout,
        format=format,
        graph_files=[name for name, _, _ in graphs],
        model_type=resolved.model_type,
        feature=resolved.feature,
        opset=opset,
        engine=engine,
        atol=atol,
        validation=report,
        manifest=manifest,
        stage_seconds=stage.seconds,
    )


def convert_tf(folder: str | os.PathLike, output: str | os.PathLike) -> Path:
    """`transformers-export convert-tf`: a PyTorch checkpoint for a TF one, written atomically like an export."""
    from .resolve import _local_folder
    from .tf_checkpoint import convert_tf_checkpoint

    output = Path(output)
    _check_output(output)
    folder = _local_folder(str(folder))
    if folder is None:
        raise InvalidArgumentError("convert-tf reads a local folder; download the checkpoint first")
    with _staged(output) as staging:
        convert_tf_checkpoint(folder, staging)
    return output


@contextmanager
def _staged(output: Path) -> Iterator[Path]:
    """A staging folder next to `output`, moved into place when the block succeeds; removed otherwise, with any
    parent folders that were created for it, so a failed or interrupted run leaves the file system as it was."""
    created: list[Path] = []
    try:
        created = _make_parent(output)
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.absolute().parent))
    except OSError as error:
        _remove_empty(created)
        raise InvalidArgumentError(f"output '{output}' is not writable: {error.strerror or error}") from error
    committed = False
    try:
        yield staging
        _commit(staging, output)
        committed = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not committed:
            _remove_empty(created)


def _make_parent(output: Path) -> list[Path]:
    """Create the folders above `output` that are missing; return them, innermost first, to undo on failure."""
    missing = []
    parent = output.absolute().parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir()
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass


def _commit(staging: Path, output: Path) -> None:
    """Move the staged files into `output`: one rename when it does not exist yet, else file by file."""
    if not output.exists():
        staging.rename(output)
        return
    for path in staging.iterdir():
        target = output / path.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(path, target)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("transformers-export", "torch", "transformers", "onnx", "onnxruntime", "onnxscript"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions


def _manifest(resolved, exports, configs, report: ValidationReport, layout: str, format: str) -> dict:
    from .architectures import find_spec

    def axes(mapping, names):
        return {name: {str(k): v for k, v in mapping[name].items()} for name in names}

    graphs = {
        exported.path.name: {
            "inputs": axes(config.inputs, exported.input_names),
            "outputs": axes(config.outputs, exported.output_names),
            "pruned_inputs": exported.pruned_inputs,
            "traced_shapes": exported.traced_shapes,
        }
        for exported, config in zip(exports, configs)
    }
    folder = exports[0].path.parent
    return {
        "format": format,
        "manifest_version": 1,
        "source": resolved.source,
        "model_type": resolved.model_type,
        "model_class": type(resolved.model).__name__,
        "feature": resolved.feature,
        "layout": layout,
        "verified_architecture": find_spec(resolved.model_type) is not None,
        "engine": exports[0].engine,
        "opset": exports[0].opset,
        "files": sorted(path.name for path in folder.iterdir() if _SUFFIXES[format] in path.name),
        "graphs": graphs,
        "validation": report.to_dict(),
        "versions": _versions(),
    }
