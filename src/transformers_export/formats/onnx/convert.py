"""Trace a model to ONNX and write the file.

Two engines, both `torch.onnx.export`:
- `trace`: the TorchScript-based exporter (`dynamo=False`). Runs the model once on real tensors. Fast.
- `dynamo`: the torch.export-based exporter. Symbolic shapes, stricter, several times slower to export.
`benchmarks/engine_matrix.py` measures both over the whole registry; the default is the one that validates more
(architecture, feature) pairs, then the faster one.

Trace and write are one step here: the trace engine writes the graph without weights and `weights.attach_weights`
streams them in; the dynamo engine saves its program with torch's own external-data writer.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ...errors import InvalidArgumentError, TraceError, first_line
from .fused_attention import fused_attention
from .lean_attention import traced_attention
from .simplify import simplify_file
from .trace_gaps import count_bools_as_integers, traceable_ops

logger = logging.getLogger(__name__)
# inputs that mask a graph's own tokens (an encoder's mask of the cross-attention is not one)
SELF_MASKS = {"attention_mask", "decoder_attention_mask"}

ENGINES = ("trace", "dynamo")
DEFAULT_ENGINE = "trace"
# torch's dynamo exporter implements opset 18 onwards and converts down with onnx's version converter, which fails
# on many graphs.
MIN_DYNAMO_OPSET = 18


@dataclass
class OnnxExport:
    path: Path
    input_names: list[str]
    output_names: list[str]
    traced_shapes: dict[str, list[int]]
    engine: str
    opset: int
    pruned_inputs: list[str] = field(default_factory=list)
    traced_dtypes: dict[str, str] = field(default_factory=dict)
    # weights declared but not written (streamed checkpoint, quantized later): initializer name -> placeholder
    declared_weights: dict = field(default_factory=dict)


def default_opset(onnx_config, engine: str) -> int:
    if engine == "dynamo":
        return max(onnx_config.default_onnx_opset, MIN_DYNAMO_OPSET)
    return onnx_config.default_onnx_opset


def max_opset(engine: str) -> int:
    """The newest opset the installed torch exports with `engine`."""
    from torch.onnx import _constants

    if engine == "trace":
        return _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    return _constants.ONNX_MAX_OPSET


def check_opset(onnx_config, opset: int, engine: str) -> None:
    minimum = onnx_config.min_onnx_opset
    if engine == "dynamo":
        minimum = max(minimum, MIN_DYNAMO_OPSET)
    if opset > max_opset(engine):
        raise InvalidArgumentError(
            f"opset {opset} is newer than the {engine} engine of torch can write (at most {max_opset(engine)}); "
            f"use --opset {max_opset(engine)} or lower"
        )
    if opset < minimum:
        raise InvalidArgumentError(
            f"opset {opset} is below the minimum {minimum} for this model with the {engine} engine; use --opset "
            f"{minimum} or higher"
        )


def export_onnx(
    model,
    onnx_config,
    opset: int,
    output: Path,
    engine: str = DEFAULT_ENGINE,
    preprocessor=None,
    dummy_inputs: Mapping | None = None,
    trace_sizes: Mapping[str, int] | None = None,
    progress=None,
    fuse_attention: bool = False,
    weights=None,
    declare_weights_only: bool = False,
) -> OnnxExport:
    """Write `output` (an .onnx file, plus one external data file above 2 GB) for `model` as `onnx_config` describes
    it. `progress(bytes_written, bytes_total)` is called as weights are written. `fuse_attention`: attention as ONNX
    Runtime's MultiHeadAttention (trace engine; see `fused_attention.py`).

    `weights`: the model's parameters are placeholders of a streamed checkpoint (`resolve/streamed.py`) and
    `weights.value(parameter)` reads one (trace engine only). `declare_weights_only`: the weights are declared, not
    written, for the quantizer to write them quantized (see `weights.declare_weights`)."""
    import torch

    from ..exportable import ExportableModule
    from .weights import WeightsAsInputs, attach_weights, declare_weights, needs_external_data

    if engine not in ENGINES:
        raise InvalidArgumentError(f"unknown ONNX engine '{engine}'; choose one of {', '.join(ENGINES)}")
    if weights is not None and engine != "trace":
        raise TraceError("a streamed checkpoint is captured by the trace engine only; the dynamo engine needs weights")
    check_opset(onnx_config, opset, engine)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    onnx_config.bind_model(model)
    sizes = trace_sizes or {}
    inputs = dict(
        dummy_inputs
        or onnx_config.generate_dummy_inputs(
            preprocessor, batch_size=sizes.get("batch", -1), seq_length=sizes.get("sequence", -1)
        )
    )
    declared_inputs = onnx_config.inputs
    unknown = [name for name in declared_inputs if name not in inputs]
    if unknown:
        raise TraceError(f"the dummy inputs lack {unknown}, which the export config declares")
    input_names = list(declared_inputs)
    output_names = list(onnx_config.outputs)
    args = tuple(inputs[name] for name in input_names)
    wrapper = ExportableModule(model, input_names, output_names, onnx_config)
    external = needs_external_data(model)
    declared: dict = {}

    fusing = fused_attention(model, fuse_attention and engine == "trace")
    chosen = onnx_config.traced_attention if engine == "trace" and not fuse_attention else None
    lean = traced_attention(model, chosen, takes_mask=bool(SELF_MASKS & set(declared_inputs)))
    with torch.no_grad(), onnx_config.patched(model), traceable_ops(engine), fusing, lean, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if engine == "trace":
                # the weights are graph inputs while tracing and are streamed in afterwards (see weights.py)
                traced = WeightsAsInputs(wrapper, len(args))
                torch.onnx.export(
                    traced,
                    args + traced.weights,
                    str(output),
                    dynamo=False,
                    input_names=input_names + traced.weight_names,
                    output_names=output_names,
                    dynamic_axes={**declared_inputs, **onnx_config.outputs},
                    opset_version=opset,
                    do_constant_folding=True,
                )
                named = dict(zip(traced.weight_names, traced.weights))
                if not fuse_attention:  # the dynamo engine's own optimizer does this; see simplify.py
                    # before the weights are attached: the graph is small to load and write while they are inputs
                    simplify_file(output)
                if declare_weights_only:
                    declared = declare_weights(output, named)
                else:
                    load = None if weights is None else weights.value
                    attach_weights(output, named, external, progress, load)
            else:
                _quiet_dynamo_logs()
                program = torch.onnx.export(
                    wrapper,
                    args,
                    dynamo=True,
                    input_names=input_names,
                    output_names=output_names,
                    dynamic_shapes=_dynamic_shapes(declared_inputs, input_names),
                    opset_version=opset,
                    optimize=True,
                    verbose=False,
                )
                program.save(str(output), external_data=external)
        except (TraceError, InvalidArgumentError, OSError, KeyboardInterrupt):
            raise
        except Exception as error:
            first = first_line(error)
            raise TraceError(f"exporting {type(model).__name__} with the {engine} engine failed: {first}") from error

    graph_inputs = _name_output_axes(output, onnx_config.outputs, rename=engine == "dynamo")
    pruned = [name for name in input_names if name not in graph_inputs]
    if pruned:
        logger.warning("the exporter removed unused input(s) %s from the graph; do not feed them", pruned)
    return OnnxExport(
        path=output,
        input_names=[name for name in input_names if name in graph_inputs],
        output_names=output_names,
        traced_shapes={name: list(tensor.shape) for name, tensor in inputs.items()},
        engine=engine,
        opset=opset,
        pruned_inputs=pruned,
        traced_dtypes={name: str(tensor.dtype).replace("torch.", "") for name, tensor in inputs.items()},
        declared_weights=declared,
    )


def _dynamic_shapes(declared_inputs: Mapping, input_names: list[str]) -> dict:
    from torch.export import Dim

    from ..exportable import argument_name

    dims: dict[str, object] = {}

    def dim(axis_name: str):
        if axis_name not in dims:
            identifier = re.sub(r"\W+", "_", axis_name).strip("_")
            # Arithmetic axis names ("past_sequence + sequence") cannot be a Dim name; let torch infer them.
            dims[axis_name] = Dim(identifier) if identifier.isidentifier() and "+" not in axis_name else Dim.DYNAMIC
        return dims[axis_name]

    return {
        argument_name(input): {axis: dim(name) for axis, name in declared_inputs[input].items()}
        for input in input_names
    }


def _quiet_dynamo_logs() -> None:
    # It warns once per missing torchvision operator, which has nothing to do with transformers models.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


def _name_output_axes(path: Path, outputs: Mapping[str, Mapping[int, str]], rename: bool) -> set[str]:
    """Give the graph's symbolic output dims our axis names (dynamo names them after its own symbols; the trace
    engine takes them from `dynamic_axes`, so `rename` is off for it).

    Returns the graph's input names. Only the graph proto is rewritten; external weights stay where they are.
    """
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    changed = count_bools_as_integers(proto)
    if not rename:
        if changed:
            onnx.save(proto, str(path))
        return {graph_input.name for graph_input in proto.graph.input}
    for graph_output in proto.graph.output:
        axes = outputs.get(graph_output.name, {})
        dims = graph_output.type.tensor_type.shape.dim
        for axis, axis_name in axes.items():
            if axis < len(dims) and not dims[axis].HasField("dim_value") and dims[axis].dim_param != axis_name:
                dims[axis].dim_param = axis_name
                changed = True
    if changed:
        onnx.save(proto, str(path))
    return {graph_input.name for graph_input in proto.graph.input}


def export(
    preprocessor,
    model,
    config,
    opset: int,
    output: Path,
    tokenizer=None,
    device: str = "cpu",
    engine: str = DEFAULT_ENGINE,
):
    """The seed's `export()`: write `output` and return (input names in forward order, output names)."""
    if tokenizer is not None:
        if preprocessor is not None:
            raise ValueError("You cannot provide both a tokenizer and a preprocessor to export the model.")
        preprocessor = tokenizer
    if device != "cpu":
        raise InvalidArgumentError(f"device '{device}' is not supported; exports trace on the CPU")
    result = export_onnx(model, config, opset, Path(output), engine=engine, preprocessor=preprocessor)
    return result.input_names, result.output_names
