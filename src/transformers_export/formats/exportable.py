"""The model as every format traces it: named tensor arguments in config order, a flat tuple of named tensor outputs.

Tracers (torch.onnx, torch.jit, torch.export) handle plain tensors best; `ModelOutput`s, dicts and keyword-only calls
are where they differ. One wrapper used by every format keeps what is traced identical to what is validated.

The wrapper's `forward` is generated with one parameter per input, so TorchScript schemas and torch.export programs
keep the model's argument names (`forward(input_ids, attention_mask, token_type_ids)`). Names that are not Python
identifiers (`past_key_values.0.key`) become `past_key_values_0_key`; `argument_name` is that mapping.
"""

from __future__ import annotations

import functools
import keyword
import re
from typing import Sequence

import torch

from ..cache import names as cache, objects as cache_objects
from ..errors import TraceError


def argument_name(input_name: str) -> str:
    """The Python parameter name of a graph input (`past_key_values.0.key` -> `past_key_values_0_key`)."""
    name = re.sub(r"\W", "_", input_name)
    if not name.isidentifier() or keyword.iskeyword(name):
        name = f"input_{name}"
    return name


def named_outputs(model_output, output_names: Sequence[str], export_config) -> dict[str, torch.Tensor]:
    """Pick `output_names` from a `ModelOutput`, flattening collections (the cache -> `present.{i}.*`)."""
    available: dict[str, torch.Tensor] = {}
    for name, value in model_output.items():
        if isinstance(value, torch.Tensor):
            available[name] = value
        elif cache_objects.is_cache_field(name) and value is not None:
            available.update(
                export_config.flatten_output_collection_property(cache.PRESENT, cache_objects.layer_tensors(value))
            )
        elif value is not None:
            available.update(export_config.flatten_output_collection_property(name, value))
    missing = [name for name in output_names if name not in available]
    if missing:
        raise TraceError(
            f"the model returned no output named {missing}; it returned {sorted(available)}. "
            "Fix the `outputs` of the export config"
        )
    return {name: available[name] for name in output_names}


class _Exportable(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, input_names: Sequence[str], output_names: Sequence[str], export_config):
        super().__init__()
        self.model = model
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.export_config = export_config
        # Exporters toggle train/eval on the module they are given and restore it afterwards, recursively; a fresh
        # wrapper is in training mode and would leave the wrapped model in training mode (dropout on) after export.
        self.eval()

    def _run(self, tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        kwargs = self.export_config.model_inputs(dict(zip(self.input_names, tensors)), self.model)
        output = self.model(**kwargs, return_dict=True)
        return tuple(named_outputs(output, self.output_names, self.export_config).values())


@functools.cache
def _class_for(arguments: tuple[str, ...]) -> type:
    parameters = ", ".join(arguments)
    source = (
        f"def forward(self, {parameters}):\n    return self._run(({parameters}{',' if len(arguments) == 1 else ''}))\n"
    )
    namespace: dict = {}
    exec(compile(source, "<exportable forward>", "exec"), namespace)  # noqa: S102 - names are sanitised identifiers
    return type("ExportableModule", (_Exportable,), {"forward": namespace["forward"], "__module__": __name__})


def ExportableModule(model, input_names: Sequence[str], output_names: Sequence[str], export_config) -> torch.nn.Module:
    """A module whose `forward` takes the graph's inputs by their names (positionally or as keywords) and returns
    the outputs named `output_names`, in that order."""
    arguments = tuple(argument_name(name) for name in input_names)
    if len(set(arguments)) != len(arguments):
        raise TraceError(f"input names {list(input_names)} collide once made into Python argument names")
    return _class_for(arguments)(model, input_names, output_names, export_config)
