"""The export, as the list of its stages: resolve -> trace + write -> validate -> optimize -> manifest -> commit.

Each stage is a module with one job (`plan`, `formats`, `validate`, `optimize`, `manifest`, `staging`); this module
only orders them and times them for the report.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Iterator

from .validation.cases import calibration_feeds
from .errors import ValidationError
from .output.manifest import MANIFEST, source_entry, tensor_entry, versions, write_manifest
from .output.manifest import LAYOUTS
from .resolve.plan import ExportPlan, ExportRequest, check_request, resolve
from .optimize.presets import PRESETS, calibration_texts
from .output.commit import staged_files
from .output.companions import write_companions
from .output.genai import write_genai_config
from .output.targets import arrange
from .output.staging import staged_output
from .validation.loop import check_export, compute_references, release_weights
from .validation.report import RTOL, Tolerance, ValidationReport

logger = logging.getLogger(__name__)

__all__ = ["LAYOUTS", "ExportRequest", "ExportResult", "export_model", "run_export", "convert_tf"]

# (stage, seconds); seconds is None when the stage starts
StageCallback = Callable[[str, "float | None"], None]
# (stage, done, total, unit) while a long stage runs: bytes of weights written, PyTorch forwards (total None: not
# known up front), validation runs done
ProgressCallback = Callable[[str, float, float, str], None]


@dataclass
class ExportResult:
    output_dir: Path
    files: list[str]
    layout: str
    format: str
    graph_files: list[str]
    model_type: str
    feature: str
    opset: int | None
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
        if self.on_stage:
            self.on_stage(name, None)
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        if self.on_stage:
            self.on_stage(name, self.seconds[name])


def export_model(
    model, output, feature: str | None = None, on_stage: StageCallback | None = None, **options
) -> ExportResult:
    """Export `model` (folder or hub id) for `feature` into the folder `output`, validated; options as the CLI's
    (`opset`, `atol`, `format`, `engine`, `layout`, `quantize`, ...; see `ExportRequest`). Without a feature: the
    base model ("default"), with a warning naming the feature that keeps the checkpoint's head; "auto" keeps it."""
    known = {f.name for f in fields(ExportRequest)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"export_model() got unknown option(s) {unknown}; known: {sorted(known - {'model', 'output'})}")
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"export_model() takes a checkpoint folder or hub id, not a {type(model).__name__}; to export a loaded "
            "model, save it with save_pretrained() first, or use transformers_export.export() (the seed's API)"
        )
    return run_export(ExportRequest(model=str(model), output=output, feature=feature, **options), on_stage)


def run_export(
    request: ExportRequest, on_stage: StageCallback | None = None, on_progress: ProgressCallback | None = None
) -> ExportResult:
    stage = _Stages(on_stage)

    def progress(name: str, unit: str):
        return None if on_progress is None else (lambda done, total: on_progress(name, done, total, unit))

    check_request(request)  # flags are judged before the first stage line, and before anything heavy
    with stage("resolve"):
        plan = resolve(request)
    output = plan.output.resolve() if plan.output.is_symlink() else plan.output
    with staged_output(output) as staging:
        backend = plan.backend
        with stage("trace"):
            exported = [
                backend.export(
                    graph.name,
                    graph.module,
                    graph.config,
                    staging / backend.file_name(graph.name),
                    plan.options,
                    plan.preprocessor,
                    progress("trace", "B"),
                    weights=plan.weights,
                )
                for graph in plan.graphs
            ]
        tolerance = _tolerance(plan)
        # a streamed checkpoint exported quantized has no float graph to check: its weights are written once, by the
        # quantizer, and the quantized graph is checked by similarity like any other
        float_graph = not any(graph.declared_weights for graph in exported)
        with stage("validate"):
            # PyTorch first, for every check (the quantized graphs' too); then the model's memory is given back
            # before the exported graphs are loaded, so that the two are never resident together
            with _runnable(plan):
                inputs = (
                    plan.graphs,
                    exported,
                    backend,
                    plan.preprocessor,
                    plan.layout,
                    progress("references", "forwards"),
                )
                references = compute_references(*inputs) if float_graph else None
                quantized_references, calibration = None, []
                if plan.quantize:
                    quantized_references = compute_references(*inputs, unpadded=True)
                    if PRESETS[plan.quantize].needs_calibration:
                        texts = calibration_texts()
                        calibration = [
                            calibration_feeds(graph.config, graph.module, plan.preprocessor, texts)
                            for graph in plan.graphs
                        ]
            source = Path(plan.source)
            write_companions(plan.model, plan.preprocessor, source if source.is_dir() else None, staging)
            release_weights(plan.model)
            report = None
            if references is not None:
                report = check_export(references, exported, backend, tolerance, progress("validate", "runs"))
                if not report.passed:
                    raise ValidationError(report.error, report)
        backend.finish(exported)
        float_graphs = None
        if plan.quantize and plan.target is not None and report is not None:  # a client loads either dtype
            float_graphs = arrange(staging, _manifest(plan, exported, report, staging), plan.target, None, keep=True)
        if plan.quantize:
            with stage("quantize"):
                quantized = _quantize(plan, exported, quantized_references, calibration, tolerance, progress)
            report = quantized if report is None else replace(report, runs=report.runs + quantized.runs)
            if not report.passed:
                raise ValidationError(report.error, report)
        with stage("write" if plan.preprocessor is not None else "write-without-preprocessor"):
            manifest = _manifest(plan, exported, report, staging)
            if plan.target is not None:
                manifest = arrange(staging, manifest, plan.target, plan.quantize, float_graphs=float_graphs)
            if plan.feature == "causal-lm-with-past" and backend.name == "onnx":
                generation = getattr(plan.model, "generation_config", None)
                manifest = write_genai_config(staging, manifest, plan.model.config, generation)
            write_manifest(staging, manifest)
            files = sorted(path.name for path in staging.iterdir())
    return ExportResult(
        output_dir=plan.output,
        files=files,
        layout=plan.layout.name,
        format=backend.name,
        graph_files=list(manifest["graphs"]),
        model_type=plan.model_type,
        feature=plan.feature,
        opset=exported[0].opset,
        engine=exported[0].engine,
        atol=tolerance.atol,
        validation=report,
        manifest=json.loads((output / MANIFEST).read_text()),
        stage_seconds=stage.seconds,
    )


# Half precision rounds to about 1e-3 (fp16) and 8e-3 (bf16) of a value at every step, and the export and PyTorch
# order their sums differently: the relative term is scaled to that. fp16: 8e-3 measured on a tiny data2vec-audio (a
# convolution stack before the attention layers).
HALF_PRECISION_RTOL = {"fp16": 1e-2, "bf16": 5e-2}


def _tolerance(plan: ExportPlan) -> Tolerance:
    """The architecture's atol plus a relative term; `--atol` replaces both with a plain absolute bound."""
    if plan.atol is not None:
        return Tolerance(plan.atol, rtol=0.0)
    return Tolerance(plan.onnx_config.atol_for_validation, HALF_PRECISION_RTOL.get(plan.dtype, RTOL))


def _quantize(plan: ExportPlan, exported, references, calibration, tolerance: Tolerance, progress) -> ValidationReport:
    """Quantize the validated graphs in place and validate them again, by similarity."""
    plan.backend.quantize(exported, PRESETS[plan.quantize], calibration, plan.weights, progress("quantize", "B"))
    min_cosine = plan.min_cosine if plan.min_cosine is not None else PRESETS[plan.quantize].min_cosine
    report = check_export(
        references, exported, plan.backend, replace(tolerance, min_cosine=min_cosine), progress("validate", "runs")
    )
    for run in report.runs:
        run.graph = f"{run.graph} ({plan.quantize})"
    return report


def _runnable(plan: ExportPlan):
    """A context in which the plan's model runs: a streamed model reads each module's weights as it runs."""
    if plan.weights is None:
        return nullcontext()
    from .resolve.streamed import materialized

    return materialized(plan.model, plan.weights)


def _manifest(plan: ExportPlan, exported, report: ValidationReport, folder: Path) -> dict:
    graphs = {}
    for graph, written in zip(plan.graphs, exported):
        config = graph.config
        arguments = written.arguments or {}
        data_file = f"{written.path.name}.data"
        dtypes, shapes = report.output_dtypes(written.path.name), report.output_shapes(written.path.name)
        shared = "model.onnx.data" if len(exported) > 1 and (folder / "model.onnx.data").exists() else None
        graphs[written.path.name] = {
            "role": graph.role,
            "engine": written.engine,
            "opset": written.opset,
            "external_data": shared or (data_file if (folder / data_file).exists() else None),
            "inputs": {
                name: tensor_entry(
                    config.inputs[name],
                    _dtype_name(written.traced_dtypes.get(name)),
                    arguments.get(name),
                    written.traced_shapes.get(name),
                )
                for name in written.input_names
            },
            "outputs": {
                name: tensor_entry(config.outputs[name], dtypes.get(name), sizes=shapes.get(name))
                for name in written.output_names
            },
            "traced_shapes": written.traced_shapes,
            "pruned_inputs": written.pruned_inputs,
        }
    return {
        "format": plan.backend.name,
        **source_entry(plan.source),
        "model_type": plan.model_type,
        "model_class": type(plan.model).__name__,
        "feature": plan.feature,
        "architecture": "generic" if plan.spec.generic else "registered",
        "layout": plan.layout.name,
        "engine": exported[0].engine,
        "opset": exported[0].opset,
        "files": sorted({*staged_files(folder), MANIFEST}),
        "graphs": graphs,
        "validation": report.to_dict(),
        "quantization": plan.quantize,
        "versions": versions(),
    }


def _dtype_name(dtype) -> str | None:
    return None if dtype is None else str(dtype).replace("torch.", "")


def convert_tf(folder: str | os.PathLike, output: str | os.PathLike) -> Path:
    """`transformers-export convert-tf`: a PyTorch checkpoint for a TF one, written atomically like an export."""
    from .errors import InvalidArgumentError
    from .resolve.loading import local_folder
    from .output.staging import check_output
    from .resolve.tf_checkpoint import convert_tf_checkpoint

    output = Path(output)
    check_output(output)
    local = local_folder(str(folder))
    if local is None:
        raise InvalidArgumentError("convert-tf reads a local folder; download the checkpoint first")
    with staged_output(output) as staging:
        convert_tf_checkpoint(local, staging)
    return output
