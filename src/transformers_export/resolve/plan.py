"""Stage 1, resolve: one typed `ExportRequest` -> one immutable `ExportPlan`.

Every option is checked here, cheapest first and before any weights load: the request's own values, then the
config (unknown model type, unsupported feature), then the preprocessor and the weights. Later stages only read the
plan; nothing below this module imports it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import objects as cache_objects
from ..architectures import ArchitectureSpec, check_feature, get_spec, spec_for_feature
from ..config import onnx_config_class
from ..errors import InvalidArgumentError, UnsupportedFeatureError, did_you_mean
from ..formats import Backend, TraceOptions, backend_names, get_backend
from ..layouts import Layout, PlannedGraph, choose_layout, get_layout
from ..optimize.presets import PRESETS, QUANTIZATIONS
from ..output.staging import check_output
from ..output.targets import Target, check_layout, get_target
from ..tasks import WITH_PAST_SUFFIX, get_task, task_of
from .features import requested_feature


@dataclass(frozen=True)
class ExportRequest:
    """What a user asks for; see the CLI reference for each option."""

    model: str
    output: str | os.PathLike
    feature: str | None = None  # None: the seed's "default", with a warning when the checkpoint names a head
    format: str = "onnx"
    opset: int | None = None
    atol: float | None = None
    preprocessor: str = "auto"
    cache_dir: str | None = None
    framework: str | None = None
    engine: str | None = None
    layout: str | None = None
    tracer: str | None = None
    untie_weights: bool = False
    batch_size: int | None = None
    sequence_length: int | None = None
    quantize: str | None = None
    min_cosine: float | None = None  # None: the preset's own
    dtype: str = "fp32"
    target: str | None = None  # a client's folder layout (`output/targets.py`)


# --dtype -> the torch dtype the model is loaded in, and so the graph's float precision
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class ExportPlan:
    source: str
    output: Path
    model: Any
    preprocessor: Any
    model_type: str
    spec: ArchitectureSpec
    feature: str
    onnx_config: Any
    layout: Layout
    backend: Backend
    graphs: tuple[PlannedGraph, ...]
    options: TraceOptions
    atol: float | None  # None: the tolerance rule's default
    quantize: str | None = None
    min_cosine: float | None = None
    dtype: str = "fp32"
    # the checkpoint's weights when they are streamed rather than loaded (`streamed.py`); then `model` holds
    # placeholders, and running it needs `streamed.materialized`
    weights: Any = None
    target: Target | None = None


def check_request(request: ExportRequest) -> TraceOptions:
    """Everything that can be judged from the request alone."""
    check_output(Path(request.output), _local_path(request.model))
    if request.feature not in (None, "auto"):
        get_task(request.feature)  # an unknown name is told before the model is read
    if request.atol is not None and not (math.isfinite(request.atol) and request.atol > 0):
        raise InvalidArgumentError(f"--atol must be a positive finite number, got {request.atol}")
    if request.layout is not None:
        get_layout(request.layout)
    if request.quantize not in (None, *QUANTIZATIONS):
        raise InvalidArgumentError(
            f"unknown quantization '{request.quantize}';{did_you_mean(request.quantize, QUANTIZATIONS)} choose one of "
            f"{', '.join(QUANTIZATIONS)}"
        )
    if request.min_cosine is not None:
        if not request.quantize:
            raise InvalidArgumentError("--min-cosine applies to quantized exports; add --quantize")
        if not (math.isfinite(request.min_cosine) and -1 <= request.min_cosine <= 1):
            raise InvalidArgumentError(f"--min-cosine must be a number between -1 and 1, got {request.min_cosine}")
    if request.dtype not in DTYPES:
        raise InvalidArgumentError(
            f"unknown dtype '{request.dtype}';{did_you_mean(request.dtype, DTYPES)} choose one of {', '.join(DTYPES)}"
        )
    if request.dtype == "bf16" and request.format == "onnx":
        raise InvalidArgumentError(
            "--dtype bf16 applies to --format torchscript or exported-program; ONNX Runtime has almost no bfloat16 "
            "kernels, so an ONNX graph would not run (use fp32, or fp16 for GPUs)"
        )
    if request.quantize and request.dtype != "fp32":
        raise InvalidArgumentError("--quantize starts from an fp32 graph; drop --dtype")
    if request.framework not in (None, "pt", "tf"):
        raise InvalidArgumentError(f"--framework must be 'pt' or 'tf', got '{request.framework}'")
    backend = get_backend(request.format)
    if request.target is not None:
        get_target(request.target)
        if backend.name != "onnx":
            raise InvalidArgumentError(f"--target {request.target} takes ONNX graphs; drop --format {backend.name}")
    if request.quantize and request.quantize not in backend.quantizations:
        formats = " or ".join(
            f"--format {name}" for name in backend_names() if request.quantize in get_backend(name).quantizations
        )
        raise InvalidArgumentError(
            f"--quantize {request.quantize} applies to {formats}, not to --format {backend.name}"
        )
    sizes = {}
    for flag, axis, value in (
        ("--batch-size", "batch", request.batch_size),
        ("--sequence-length", "sequence", request.sequence_length),
    ):
        if value is not None:
            if value < 1:
                raise InvalidArgumentError(f"{flag} must be at least 1, got {value}")
            sizes[axis] = value
    options = TraceOptions(
        request.opset, request.engine, request.tracer, request.untie_weights, sizes, quantize=request.quantize
    )
    backend.check_options(options)
    return options


def _local_path(model) -> Path | None:
    path = Path(str(model))
    return path if path.exists() else None


def resolve(request: ExportRequest) -> ExportPlan:
    from .loading import load_config, load_model, load_streamed
    from .preprocessor import load_preprocessor

    options = check_request(request)
    backend = get_backend(request.format)
    config = load_config(request.model, request.cache_dir)
    spec = get_spec(config.model_type)
    feature = requested_feature(request.feature, config, spec, request.model)
    get_task(feature)  # unknown feature names fail here with the list of known ones
    spec = spec_for_feature(config.model_type, feature)
    check_feature(spec, feature)
    if feature.endswith(WITH_PAST_SUFFIX) and (reason := cache_objects.unexportable_cache(config)):
        raise UnsupportedFeatureError(
            f"{config.model_type} cannot export '{feature}': {reason}; export '{task_of(feature)}' instead"
        )
    _check_trace_sizes(config, options)
    if options.engine is None and spec.engine is not None and backend.name == "onnx":
        options = dataclasses.replace(options, engine=spec.engine)
    # Some switches are read once, when the modules are built (BigBird's attention type), so they go into the config
    # before loading; `values_override` repeats them for models loaded by the caller.
    for key, value in spec.config_overrides.items():
        setattr(config, key, value)
    preprocessor = load_preprocessor(request.model, request.preprocessor, request.cache_dir, config.model_type)
    streamed = (
        load_streamed(request.model, feature, config, DTYPES[request.dtype], request.cache_dir)
        if _may_stream(request, options, backend)
        else None
    )
    model, weights = streamed or (None, None)
    if model is not None:
        layout = choose_layout(build_onnx_config(spec, feature, model.config), feature, spec.key, request.layout)
        if len(layout.roles) > 1:  # graphs that share weights are written from a loaded model
            model = weights = None
    if model is None:
        model = load_model(
            request.model,
            feature,
            cache_dir=request.cache_dir,
            framework=request.framework,
            config=config,
            dtype=DTYPES[request.dtype],
        )
    _traceable_experts(model)
    onnx_config = build_onnx_config(spec, feature, model.config)
    target = get_target(request.target) if request.target is not None else None
    requested = request.layout
    if requested is None and target is not None and onnx_config.is_seq2seq_graph:
        requested = target.seq2seq_layouts[0]
    layout = choose_layout(onnx_config, feature, spec.key, requested)
    if target is not None:
        check_layout(target, layout.name, feature, onnx_config.is_seq2seq_graph)
    backend.prepare(model, options)
    return ExportPlan(
        source=str(request.model),
        output=Path(request.output),
        model=model,
        preprocessor=preprocessor,
        model_type=config.model_type,
        spec=spec,
        feature=feature,
        onnx_config=onnx_config,
        layout=layout,
        backend=backend,
        graphs=tuple(layout.graphs(model, onnx_config, preprocessor)),
        options=options,
        atol=request.atol,
        quantize=request.quantize,
        min_cosine=request.min_cosine,
        dtype=request.dtype,
        weights=weights,
        target=target,
    )


def _may_stream(request: ExportRequest, options: TraceOptions, backend: Backend) -> bool:
    """Whether the format and options allow a streamed checkpoint: the trace engine captures it, and a preset that
    calibrates runs the float graph, which a streamed export never writes."""
    if not backend.streams_weights or options.engine not in (None, "trace") or request.framework == "tf":
        return False
    return not (request.quantize and PRESETS[request.quantize].needs_calibration)


def _traceable_experts(model) -> None:
    """Mixture-of-experts layers run every expert on every token (transformers' `batched_mm`) while exported: the
    default grouped kernel needs 16-byte strides and counts tokens with `histc` (no ONNX op), and the eager loop's
    length depends on the routing, which a trace would freeze. Same outputs; more arithmetic per token."""
    if not any(name.endswith(".experts") for name, _ in model.named_modules()):
        return
    if hasattr(model, "set_experts_implementation") and model.config._experts_implementation != "batched_mm":
        model.set_experts_implementation("batched_mm")


def build_onnx_config(spec: ArchitectureSpec, feature: str, model_config):
    config_class = onnx_config_class(spec, task_of(feature))
    if feature.endswith(WITH_PAST_SUFFIX):
        return config_class.with_past(model_config, task=task_of(feature))
    return config_class.from_model_config(model_config, task=feature)


_POSITION_LIMITS = ("max_position_embeddings", "n_positions", "max_sequence_length")


def _check_trace_sizes(config, options: TraceOptions) -> None:
    """A trace sequence longer than the model's position table fails deep inside the model; say so up front."""
    length = options.trace_sizes.get("sequence")
    if length is None:
        return
    limit = next(
        (getattr(config, name) for name in _POSITION_LIMITS if isinstance(getattr(config, name, None), int)), None
    )
    if limit is not None and length > limit:
        raise InvalidArgumentError(
            f"--sequence-length {length} is longer than the {limit} positions {config.model_type} has "
            f"(config.json); use at most {limit}"
        )
