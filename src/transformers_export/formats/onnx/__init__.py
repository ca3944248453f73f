"""The ONNX format: `model.onnx` (plus external weights), run in ONNX Runtime.

Capture strategies form a chain, as torch.onnx's own exporter does: without `--engine`, the fast TorchScript-based
`trace` engine goes first and the torch.export-based `dynamo` engine takes over when the first cannot capture the
model. `--engine` pins one strategy. A chain that ends in failure reports every strategy's reason.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ...errors import InvalidArgumentError, MissingDependencyError, TraceError
from ...optimize.presets import QUANTIZATIONS
from ...runtime.session import half_precision_cpu_options, holds_half_precision_weights
from ..base import Backend, ExportedGraph, TraceOptions, register_backend

logger = logging.getLogger(__name__)

CAPTURE_CHAIN = ("trace", "dynamo")


class OnnxBackend(Backend):
    name = "onnx"
    suffix = ".onnx"
    artifact = "ONNX model"
    runtime = "ONNX Runtime"
    accepts = ("opset", "engine")
    quantizations = QUANTIZATIONS
    streams_weights = True

    def check_options(self, options: TraceOptions) -> None:
        from .convert import ENGINES

        super().check_options(options)
        if options.engine is not None and options.engine not in ENGINES:
            raise InvalidArgumentError(f"unknown ONNX engine '{options.engine}'; choose one of {', '.join(ENGINES)}")

    def export(
        self,
        graph_name,
        module,
        export_config,
        path: Path,
        options: TraceOptions,
        preprocessor=None,
        progress=None,
        weights=None,
    ) -> ExportedGraph:
        from .convert import default_opset, export_onnx

        engines = (options.engine,) if options.engine else CAPTURE_CHAIN
        if weights is not None:  # placeholders carry no values for the dynamo engine to save
            engines = ("trace",)
        failures = []
        for engine in engines:
            opset = options.opset if options.opset is not None else default_opset(export_config, engine)
            try:
                written = export_onnx(
                    module,
                    export_config,
                    opset,
                    path,
                    engine=engine,
                    preprocessor=preprocessor,
                    trace_sizes=options.trace_sizes,
                    progress=progress,
                    fuse_attention=bool(options.quantize),
                    weights=weights,
                    # a streamed model's weights are written once, by the quantizer, already quantized
                    declare_weights_only=weights is not None and bool(options.quantize),
                )
            except TraceError as error:
                failures.append(str(error))
                for leftover in path.parent.glob(f"{path.name}*"):
                    leftover.unlink()
                if engine != engines[-1]:
                    logger.warning("%s; trying the %s engine", error, engines[engines.index(engine) + 1])
                continue
            return ExportedGraph(
                name=graph_name,
                path=path,
                input_names=written.input_names,
                output_names=written.output_names,
                traced_shapes=written.traced_shapes,
                engine=engine,
                opset=opset,
                pruned_inputs=written.pruned_inputs,
                traced_dtypes=written.traced_dtypes,
                declared_weights=written.declared_weights,
            )
        raise TraceError("; ".join(dict.fromkeys(failures)))  # a failure before capture is the same for every engine

    def load(self, exported: ExportedGraph) -> Any:
        return open_session(exported.path)

    def run(self, session, exported: ExportedGraph, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        graph_inputs = {graph_input.name for graph_input in session.get_inputs()}
        feed = {name: value for name, value in feed.items() if name in graph_inputs}
        names = [graph_output.name for graph_output in session.get_outputs()]
        return dict(zip(names, session.run(names, feed)))

    def finish(self, exported: list[ExportedGraph]) -> None:
        if len(exported) > 1:
            from .weights import store_shared_weights

            store_shared_weights([graph.path for graph in exported])

    def quantize(self, exported: list[ExportedGraph], preset, calibration, weights=None, progress=None) -> None:
        from .weights import SHARED_WEIGHTS
        from ...optimize import quantize_graphs

        def values(graph: ExportedGraph):
            return {
                name: (lambda placeholder=placeholder: weights.value(placeholder).float().numpy())
                for name, placeholder in graph.declared_weights.items()
            }

        quantize_graphs(
            [graph.path for graph in exported],
            SHARED_WEIGHTS if len(exported) > 1 else None,
            preset.name,
            calibration,
            [values(graph) for graph in exported],
            progress,
        )


def open_session(path: Path):
    try:
        import onnxruntime
    except ImportError as error:
        from ...output.signals import pending

        if pending():  # an interrupt during the import surfaces as an ImportError
            raise pending() from error
        raise MissingDependencyError("validation needs onnxruntime: pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if holds_half_precision_weights(path):
        options = half_precision_cpu_options(options)
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


register_backend(OnnxBackend())
