"""TorchScript (`model.pt`, torch.jit.trace) and torch.export (`model.pt2`) formats.

They trace the same `ExportableModule` as ONNX, whose `forward` takes the graph's inputs by their names and returns a
flat tuple in the order of `export.json`'s outputs. That is what transformers 4's `torchscript=True` flag gave, with the
argument names kept:
- `model.pt`'s schema is `forward(input_ids, attention_mask, token_type_ids)`; it takes positional or keyword tensors;
- `model.pt2` is exported with keyword arguments (`program.module()(input_ids=..., attention_mask=...)`); torch's
  unlifted module checks the call against that, so `load()` here binds positional calls to the names.

A TorchScript trace records one path through the Python code, so it may only work at the shape it was traced at.
Validation runs it at other shapes; when those fail and the traced shape passes, the export is kept and reported as
specialised (the seed's advice: trace at the size you will pad to, `--batch-size` / `--sequence-length`).
"""

from __future__ import annotations

import importlib
import logging
import warnings
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..errors import InvalidArgumentError, MissingDependencyError, TraceError, first_line
from .base import Backend, ExportedGraph, TraceOptions, register_backend

logger = logging.getLogger(__name__)


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
        raise InvalidArgumentError(
            f"--tracer: cannot import '{module_name}' ({error}); is its SDK installed?"
        ) from error
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
    logger.warning("untied the output embeddings from the input embeddings by cloning them; do not train this model")
    return True


class _TorchBackend(Backend):
    may_specialise = False

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
        import torch

        from ..dummy_inputs.sizes import DEFAULT_SIZES
        from .exportable import ExportableModule, argument_name

        module.eval()
        export_config.bind_model(module)
        sizes = {**DEFAULT_SIZES, **dict(options.trace_sizes)}
        inputs = export_config.generate_dummy_inputs_for_sizes(sizes)
        input_names, output_names = list(export_config.inputs), list(export_config.outputs)
        wrapper = ExportableModule(module, input_names, output_names, export_config)
        arguments = {name: argument_name(name) for name in input_names}
        with torch.no_grad(), export_config.patched(module), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self._trace_and_save(
                    wrapper, {arguments[name]: inputs[name] for name in input_names}, export_config, path, options
                )
            except (TraceError, InvalidArgumentError, MissingDependencyError, OSError, KeyboardInterrupt):
                raise
            except Exception as error:
                first = first_line(error)
                raise TraceError(f"tracing {type(module).__name__} for {self.name} failed: {first}") from error
        return ExportedGraph(
            name=graph_name,
            path=path,
            input_names=input_names,
            output_names=output_names,
            traced_shapes={name: list(tensor.shape) for name, tensor in inputs.items()},
            engine=self.engine,
            arguments=arguments,
            trace_sizes={axis: sizes[axis] for axis in ("batch", "sequence")},
            traced_dtypes={name: str(tensor.dtype).replace("torch.", "") for name, tensor in inputs.items()},
        )

    def tensors(self, exported: ExportedGraph, feed: Mapping[str, np.ndarray]) -> dict:
        """The graph's inputs from a numpy feed, in the traced precision (numpy carries bfloat16 as float32)."""
        import torch

        def tensor(name):
            value = torch.from_numpy(np.ascontiguousarray(feed[name]))
            return value.to(getattr(torch, exported.traced_dtypes[name])) if value.is_floating_point() else value

        return {name: tensor(name) for name in exported.input_names}

    def run(self, loaded, exported: ExportedGraph, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        with torch.no_grad():
            outputs = loaded(
                **{exported.arguments[name]: value for name, value in self.tensors(exported, feed).items()}
            )
        return {
            name: (value.float() if value.dtype == torch.bfloat16 else value).numpy()
            for name, value in zip(exported.output_names, outputs)
        }


class TorchScriptBackend(_TorchBackend):
    name = "torchscript"
    suffix = ".pt"
    artifact = "TorchScript model"
    runtime = "TorchScript"
    engine = "torch.jit.trace"
    accepts = ("tracer", "untie_weights")
    may_specialise = True

    def check_options(self, options: TraceOptions) -> None:
        super().check_options(options)
        load_tracer(options.tracer)  # a bad --tracer fails before any heavy work

    def prepare(self, model, options: TraceOptions) -> None:
        if options.untie_weights:
            untie_weights(model)

    def _trace_and_save(self, wrapper, kwargs, export_config, path, options):
        import torch

        args = tuple(kwargs.values())
        tracer = load_tracer(options.tracer)
        # torch.jit.trace's own check re-runs the model and trips on models that cache tensors (LeViT's attention
        # biases); validation is the stronger check, at other shapes, after a save/load.
        traced = tracer(wrapper, args) if tracer else torch.jit.trace(wrapper, args, check_trace=False)
        torch.jit.save(traced, str(path))

    def load(self, exported: ExportedGraph):
        import torch

        return torch.jit.load(str(exported.path))


class ExportedProgramBackend(_TorchBackend):
    # torch.export specialises the seed's single encoder-decoder graph to decoder masks at least as long as the traced
    # one (a guard), so that graph is validated on the fixed shapes only, not by a decode from an empty past
    decodes_seq2seq_monolith = False
    name = "exported-program"
    suffix = ".pt2"
    artifact = "ExportedProgram"
    runtime = "torch.export"
    engine = "torch.export"

    def _trace_and_save(self, wrapper, kwargs, export_config, path, options):
        import torch

        # DYNAMIC, not named Dims: torch infers the ranges (e.g. sequence <= max positions) and the equalities between
        # inputs itself, where named unbounded Dims would be rejected as too general.
        dynamic = {
            argument: {axis: torch.export.Dim.DYNAMIC for axis in export_config.inputs[name]}
            for name, argument in zip(export_config.inputs, kwargs)
        }
        program = torch.export.export(wrapper, (), kwargs=kwargs, dynamic_shapes=dynamic, strict=False)
        self._save(program, path, options)

    def _save(self, program, path: Path, options) -> None:
        import torch

        torch.export.save(program, str(path))

    def load(self, exported: ExportedGraph):
        return load_program(exported.path, [exported.arguments[name] for name in exported.input_names])


def program_dynamic_shapes(program) -> dict:
    """The dynamic axes of a program's keyword inputs, read off its placeholders (a symbolic size is dynamic)."""
    import torch

    placeholders = {node.name: node for node in program.graph.nodes if node.op == "placeholder"}
    _, kwargs = program.example_inputs
    return {
        argument: {
            axis: torch.export.Dim.DYNAMIC
            for axis, size in enumerate(placeholders[argument].meta["val"].shape)
            if isinstance(size, torch.SymInt)
        }
        for argument in kwargs
    }


def bind_arguments(module, arguments: list[str]):
    """`module` (which takes keyword inputs) as a callable that also takes them positionally, in `arguments` order."""

    def call(*args, **kwargs):
        if len(args) > len(arguments):
            raise TypeError(f"takes {len(arguments)} inputs ({', '.join(arguments)}), got {len(args)} positional")
        kwargs.update(zip(arguments, args))
        return module(**kwargs)

    return call


def load_program(path: Path, arguments: list[str]):
    """A saved `model.pt2` as a callable taking its inputs positionally (in `export.json` order) or by name."""
    import torch

    return bind_arguments(torch.export.load(str(path)).module(), arguments)


def load_package(path: Path, arguments: list[str]):
    """A compiled AOTInductor `model.pt2`, called as `load_program`'s result is."""
    import torch

    return bind_arguments(torch._inductor.aoti_load_package(str(path)), arguments)


def load(path: Path, format: str, arguments: list[str] | None = None):
    """The saved artifact of `format`, as a callable taking the graph's inputs positionally or by name."""
    import torch

    if format == "torchscript":
        return torch.jit.load(str(path))
    if arguments is None:
        from ..output.manifest import read_manifest

        graph = read_manifest(Path(path).parent).graph(Path(path).name)
        arguments = [graph.inputs[name].argument for name in graph.inputs]
    return (load_package if format == "aot-inductor" else load_program)(path, arguments)


register_backend(TorchScriptBackend())
register_backend(ExportedProgramBackend())
