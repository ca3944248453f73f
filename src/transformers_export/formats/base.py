"""The backend protocol every format implements, and the registry the pipeline looks formats up in.

A backend traces one graph and writes its file (`export`), opens the written file (`load`) and runs it on numpy
inputs for validation (`run`). The pipeline and the validation loop never branch on a format's name: adding a
format means adding one backend module and registering it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InvalidArgumentError, did_you_mean


@dataclass(frozen=True)
class TraceOptions:
    """What a user may set about tracing; each backend says which of these it accepts (`check_options`)."""

    opset: int | None = None
    engine: str | None = None
    tracer: str | None = None
    untie_weights: bool = False
    trace_sizes: Mapping[str, int] = field(default_factory=dict)
    # the quantization preset the quantize stage will apply; a backend may trace differently for it (ONNX captures
    # attention as ONNX Runtime's fused MultiHeadAttention, AOTInductor keeps the float program to rewrite)
    quantize: str | None = None


@dataclass
class ExportedGraph:
    """One written graph: its file and its I/O, as the manifest records them."""

    name: str  # graph name without suffix: model, encoder_model, decoder_model
    path: Path
    input_names: list[str]
    output_names: list[str]
    traced_shapes: dict[str, list[int]]
    engine: str  # the capture strategy that produced the file
    opset: int | None = None
    pruned_inputs: list[str] = field(default_factory=list)
    arguments: dict[str, str] | None = None  # input name -> Python argument name, where the format has a signature
    trace_sizes: dict[str, int] = field(default_factory=dict)
    traced_dtypes: dict[str, str] = field(default_factory=dict)
    # weights the graph declares but has not written yet (a streamed checkpoint quantized later): name -> placeholder
    declared_weights: dict = field(default_factory=dict)


class Backend(ABC):
    name: str  # --format value
    suffix: str  # file suffix of its graphs
    artifact: str  # how the report names the exported thing ("ONNX model")
    runtime: str  # what runs it ("ONNX Runtime")
    # option name -> flag, for the options this backend accepts; the others are refused with its name
    accepts: tuple[str, ...] = ()
    # whether `export` takes a streamed checkpoint (`weights`: placeholders whose values are read one at a time)
    streams_weights: bool = False
    # whether a graph that fails at other shapes but runs at its traced shape is kept (TorchScript traces)
    may_specialise: bool = False
    # whether the seed's single encoder-decoder graph with a cache is also validated by a decode
    decodes_seq2seq_monolith: bool = True
    # the --quantize presets this format can apply (`quantize`)
    quantizations: tuple[str, ...] = ()

    def check_options(self, options: TraceOptions) -> None:
        flags = {"opset": "--opset", "engine": "--engine", "tracer": "--tracer", "untie_weights": "--untie-weights"}
        for option, flag in flags.items():
            if option not in self.accepts and getattr(options, option):
                formats = " or ".join(f"--format {b.name}" for b in _BACKENDS.values() if option in b.accepts)
                raise InvalidArgumentError(f"{flag} applies to {formats} only, not to --format {self.name}")

    def file_name(self, graph_name: str) -> str:
        return graph_name + self.suffix

    def prepare(self, model, options: TraceOptions) -> None:
        """Changes to the model before any graph is traced (e.g. untying weights)."""

    @abstractmethod
    def export(
        self,
        graph_name: str,
        module,
        export_config,
        path: Path,
        options: TraceOptions,
        preprocessor=None,
        progress=None,
        weights=None,
    ) -> ExportedGraph:
        """Trace `module` as `export_config` describes it and write `path`; `progress(bytes_written)` as weights are
        written, where the format writes them itself. `weights`: see `streams_weights`; when the export is quantized,
        the graph may declare the weights and leave them to `quantize`."""

    @abstractmethod
    def load(self, exported: ExportedGraph) -> Any:
        """Open the written file for running."""

    @abstractmethod
    def run(self, loaded: Any, exported: ExportedGraph, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for inputs by name (inputs the graph does not take are ignored)."""

    def finish(self, exported: list[ExportedGraph]) -> None:
        """After validation: work on the written files of one export together (e.g. store shared weights once)."""

    def quantize(self, exported: list[ExportedGraph], preset, calibration, weights=None, progress=None) -> None:
        """Rewrite the validated files in place with `preset` (an `optimize.Preset`, one of `quantizations`);
        `calibration[i]`: numpy input feeds of graph `i`, for presets that calibrate; `weights`: the streamed
        checkpoint whose values the graphs' declared weights stand for; `progress(bytes_done, bytes_total)`."""
        raise NotImplementedError(f"--format {self.name} has no quantization")


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    _BACKENDS[backend.name] = backend
    return backend


def backend_names() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        raise InvalidArgumentError(
            f"unknown format '{name}';{did_you_mean(name, _BACKENDS)} choose one of {', '.join(_BACKENDS)}"
        )
    return _BACKENDS[name]
