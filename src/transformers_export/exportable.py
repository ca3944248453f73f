"""The model as exporters see it: positional tensor inputs in config order, a flat tuple of named tensor outputs.

Tracers (torch.onnx, torch.jit, torch.export) handle plain tensors best; `ModelOutput`s, dicts and keyword-only calls
are where they differ. One wrapper used by every format keeps what is traced identical to what is validated.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .errors import TraceError


def named_outputs(model_output, output_names: Sequence[str], onnx_config) -> dict[str, torch.Tensor]:
    """Pick `output_names` from a `ModelOutput`, flattening collections (`past_key_values` -> `present.{i}.*`)."""
    from .kv_cache import layer_tensors

    available: dict[str, torch.Tensor] = {}
    for name, value in model_output.items():
        if isinstance(value, torch.Tensor):
            available[name] = value
        elif name in ("cache", "past_key_values") and value is not None:
            available.update(onnx_config.flatten_output_collection_property("present", layer_tensors(value)))
        elif value is not None:
            available.update(onnx_config.flatten_output_collection_property(name, value))
    missing = [name for name in output_names if name not in available]
    if missing:
        raise TraceError(
            f"the model returned no output named {missing}; it returned {sorted(available)}. "
            "Fix the `outputs` of the export config"
        )
    return {name: available[name] for name in output_names}


class ExportableModule(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, input_names: Sequence[str], output_names: Sequence[str], onnx_config):
        super().__init__()
        self.model = model
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.onnx_config = onnx_config
        # Exporters toggle train/eval on the module they are given and restore it afterwards, recursively; a fresh
        # wrapper is in training mode and would leave the wrapped model in training mode (dropout on) after export.
        self.eval()

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kwargs = self.onnx_config.model_inputs(dict(zip(self.input_names, tensors)), self.model)
        output = self.model(**kwargs, return_dict=True)
        return tuple(named_outputs(output, self.output_names, self.onnx_config).values())
