"""TorchScript (`model.pt`, torch.jit.trace) and torch.export (`model.pt2`) formats: trace, write, validate.

They trace the same `ExportableModule` as ONNX: positional tensors in, a flat tuple of tensors out, in the order of
the export config's `outputs` (the `ModelOutput` field order). That is what transformers 4's `torchscript=True` flag
gave; nothing in transformers is patched.

A TorchScript trace records one path through the Python code, so it may only work at the shape it was traced at.
Validation runs it at other shapes; when those fail and the traced shape passes, the export is kept and reported as
specialised (the seed's advice: trace at the size you will pad to, `--batch-size` / `--sequence-length`).
"""

from __future__ import annotations

import importlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from .dummy_inputs import DEFAULT_SIZES, VALIDATION_SIZES
from .errors import InvalidArgumentError, TraceError
from .exportable import ExportableModule, named_outputs
from .validation import ShapeRun, ValidationReport, _compare, _runtime_message

logger = logging.getLogger(__name__)

SUFFIXES = {"torchscript": ".pt", "exported-program": ".pt2"}
ARTIFACTS = {"torchscript": "TorchScript model", "exported-program": "ExportedProgram"}


@dataclass
class TorchExport:
    path: Path
    input_names: list[str]
    output_names: list[str]
    traced_shapes: dict[str, list[int]]
    format: str
    trace_sizes: dict[str, int]
    pruned_inputs: list[str] = field(default_factory=list)
    engine: str | None = None  # ONNX-only fields, for a uniform manifest
    opset: int | None = None


def load_tracer(spec: str | None) -> Callable:
    """`module:function` with `torch.jit.trace`'s signature (e.g. `torch_neuronx:trace`); None means torch.jit.trace."""
    if not spec:
        return None
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise InvalidArgumentError(f"--tracer takes module:function (e.g. torch_neuronx:trace), got '{spec}'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidArgumentError(f"--tracer: cannot import '{module_name}' ({error}); is its SDK installed?") from error
    tracer = getattr(module, function_name, None)
    if not callable(tracer):
        raise InvalidArgumentError(f"--tracer: '{module_name}' has no callable '{function_name}'")
    return tracer


def untie_weights(model) -> bool:
    """Give the output embeddings their own copy of the input embeddings (the seed's `torchscript=True` cloning).

    Returns whether anything was tied. Such a model must not be trained: the two copies would drift apart.
    """
    import torch

    output, input_ = model.get_output_embeddings(), model.get_input_embeddings()
    if output is None or input_ is None or output.weight is not input_.weight:
        return False
    output.weight = torch.nn.Parameter(input_.weight.detach().clone())
    warnings.warn(
        "untied the output embeddings from the input embeddings by cloning; do not train this model", UserWarning
    )
    return True


def export_torch(
    model,
    onnx_config,
    output: Path,
    format: str,
    tracer: Callable | None = None,
    trace_sizes: Mapping[str, int] | None = None,
) -> TorchExport:
    """Trace `model` as `onnx_config` describes it and write `output` (.pt or .pt2)."""
    import torch

    model.eval()
    onnx_config.bind_model(model)
    sizes = {**DEFAULT_SIZES, **(trace_sizes or {})}
    inputs = onnx_config.generate_dummy_inputs_for_sizes(sizes)
    input_names, output_names = list(onnx_config.inputs), list(onnx_config.outputs)
    args = tuple(inputs[name] for name in input_names)
    wrapper = ExportableModule(model, input_names, output_names, onnx_config)
    output.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), onnx_config.patched(model), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if format == "torchscript":
                # torch.jit.trace's own check re-runs the model and trips on models that cache tensors (LeViT's
                # attention biases); validation below is the stronger check, at other shapes, after a save/load.
                traced = tracer(wrapper, args) if tracer else torch.jit.trace(wrapper, args, check_trace=False)
                torch.jit.save(traced, str(output))
            else:
                # DYNAMIC, not named Dims: torch infers the ranges (e.g. sequence <= max positions) and the equalities
                # between inputs itself, where named unbounded Dims would be rejected as too general.
                dynamic = tuple({axis: torch.export.Dim.DYNAMIC for axis in onnx_config.inputs[name]} for name in input_names)
                program = torch.export.export(wrapper, args, dynamic_shapes={"tensors": dynamic}, strict=False)
                torch.export.save(program, str(output))
        except (TraceError, InvalidArgumentError):
            raise
        except Exception as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise TraceError(f"tracing {type(model).__name__} for {format} failed: {first}") from error
    return TorchExport(
        path=output,
        input_names=input_names,
        output_names=output_names,
        traced_shapes={name: list(tensor.shape) for name, tensor in inputs.items()},
        format=format,
        trace_sizes={axis: sizes[axis] for axis in ("batch", "sequence")},
    )


def load(path: Path, format: str):
    """The saved artifact, as a callable taking the graph's inputs positionally."""
    import torch

    if format == "torchscript":
        return torch.jit.load(str(path))
    return torch.export.load(str(path)).module()


def validate_torch(onnx_config, model, exported: TorchExport, atol: float) -> ValidationReport:
    """Load the saved file (a real round trip) and compare with `model` on shapes other than the trace's."""
    loaded = load(exported.path, exported.format)
    report = ValidationReport(atol=atol, artifact=ARTIFACTS[exported.format])
    for sizes in VALIDATION_SIZES:
        report.runs.append(_run(onnx_config, model, loaded, sizes, exported, atol))
    if exported.format == "torchscript" and not report.passed:
        at_trace = _run(onnx_config, model, loaded, {**DEFAULT_SIZES, **exported.trace_sizes}, exported, atol)
        if at_trace.runtime_error is None and all(c.shape_ok and c.values_ok for c in at_trace.outputs):
            report.runs = [at_trace]
            report.specialized_to = dict(exported.trace_sizes)
    return report


def _run(onnx_config, model, loaded, sizes, exported: TorchExport, atol: float) -> ShapeRun:
    import torch

    inputs = onnx_config.generate_dummy_inputs_for_sizes(sizes)
    used = {axis for axes in onnx_config.inputs.values() for axis in axes.values()}
    shown = {axis: size for axis, size in sizes.items() if axis in used}
    run = ShapeRun(shown, list(exported.output_names), list(exported.output_names), graph=exported.path.name)
    with torch.no_grad(), onnx_config.patched(model):
        reference = named_outputs(model(**onnx_config.model_inputs(inputs, model), return_dict=True), exported.output_names, onnx_config)
        try:
            actual = loaded(*(inputs[name] for name in exported.input_names))
        except Exception as error:  # a specialised trace fails with shape errors of many types
            run.runtime_error = _runtime_message(error)
            return run
    run.outputs = [
        _compare(name, reference[name].numpy(), value.numpy(), atol) for name, value in zip(exported.output_names, actual)
    ]
    return run
