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
from .onnx.convert import DEFAULT_ENGINE, default_opset, export_onnx
from .onnx.validate import ValidationReport, validate_onnx
from .resolve import resolve

logger = logging.getLogger(__name__)

MANIFEST = "export.json"
ONNX_FILE = "model.onnx"

StageCallback = Callable[[str, float], None]


@dataclass
class ExportResult:
    output_dir: Path
    files: list[str]
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
        return self.output_dir / ONNX_FILE


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
    engine: str = DEFAULT_ENGINE,
    on_stage: StageCallback | None = None,
) -> ExportResult:
    """Export `model` (folder or hub id) for `feature` into the folder `output`, validated; see the CLI for options."""
    output = Path(output)
    _check_output(output)
    _check_atol(atol)
    stage = _Stages(on_stage)

    with stage("resolve"):
        resolved = resolve(model, feature, preprocessor, cache_dir, framework)
    onnx_config = resolved.onnx_config
    opset = opset if opset is not None else default_opset(onnx_config, engine)
    atol = atol if atol is not None else onnx_config.atol_for_validation

    created = []
    committed = False
    try:
        created = _make_parent(output)
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.absolute().parent))
    except OSError as error:
        _remove_empty(created)
        raise InvalidArgumentError(f"output '{output}' is not writable: {error.strerror or error}") from error
    try:
        with stage("trace"):
            exported = export_onnx(
                resolved.model, onnx_config, opset, staging / ONNX_FILE, engine=engine, preprocessor=resolved.preprocessor
            )
        with stage("validate"):
            report = validate_onnx(
                onnx_config, resolved.preprocessor, resolved.model, exported.path, exported.output_names, atol
            )
        if not report.passed:
            raise ValidationError(report.error, report)
        with stage("write"):
            resolved.model.config.save_pretrained(staging)
            generation_config = getattr(resolved.model, "generation_config", None)
            if generation_config is not None and resolved.model.can_generate():
                generation_config.save_pretrained(staging)
            if resolved.preprocessor is not None:
                resolved.preprocessor.save_pretrained(str(staging))
            manifest = _manifest(resolved, exported, report, atol)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            files = sorted(path.name for path in staging.iterdir())
            _commit(staging, output)
            committed = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not committed:
            _remove_empty(created)

    return ExportResult(
        output_dir=output,
        files=files,
        model_type=resolved.model_type,
        feature=resolved.feature,
        opset=opset,
        engine=engine,
        atol=atol,
        validation=report,
        manifest=manifest,
        stage_seconds=stage.seconds,
    )


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


def _manifest(resolved, exported, report: ValidationReport, atol: float) -> dict:
    onnx_config = resolved.onnx_config
    from .architectures import find_spec

    return {
        "format": "onnx",
        "manifest_version": 1,
        "source": resolved.source,
        "model_type": resolved.model_type,
        "model_class": type(resolved.model).__name__,
        "feature": resolved.feature,
        "verified_architecture": find_spec(resolved.model_type) is not None,
        "engine": exported.engine,
        "opset": exported.opset,
        "files": sorted(path.name for path in exported.path.parent.glob(ONNX_FILE + "*")),
        "inputs": {name: {str(k): v for k, v in onnx_config.inputs[name].items()} for name in exported.input_names},
        "outputs": {name: {str(k): v for k, v in onnx_config.outputs[name].items()} for name in exported.output_names},
        "pruned_inputs": exported.pruned_inputs,
        "traced_shapes": exported.traced_shapes,
        "validation": report.to_dict(),
        "versions": _versions(),
    }
