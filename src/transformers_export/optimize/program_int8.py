"""The int8 rewrite of a torch.export program, for AOTInductor (`--format aot-inductor --quantize int8`).

Every `aten.linear` with a constant weight becomes an `Int8Linear`: the weight int8 per output channel, the input
quantized on the fly to int8 with one scale per token, the product `torch._int_mm` (oneDNN's VNNI/AMX int8 kernel on
x86), rescaled to float. Inductor fuses the quantization and the rescaling into the neighbouring elementwise code.

Why per token and not per tensor (ONNX Runtime's `DynamicQuantizeLinear`): one scale per token costs nothing extra
once fused here, and it keeps a token with large activations from coarsening every other token. Products that
contract more channels than they produce (the FFN's down-projection, after GELU/SiLU) are not smoothed: their input's
outliers are per token, which the per-token scale already handles, and SmoothQuant there loses accuracy (measured on
MiniLM: token cosine p1 0.9886 with it, 0.9964 without). The other products are smoothed (SmoothQuant, the preset's
alpha), with one factor per input shared by the products that read it (Q, K and V), so their quantized input is
computed once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping

import numpy as np

from .numerics import smoothing_factors


def _modules():
    import torch

    class ObservedLinear(torch.nn.Module):
        """A float linear that records its input's largest magnitude per channel (calibration)."""

        def __init__(self, weight, bias):
            super().__init__()
            self.weight, self.bias = weight, bias
            self.absmax = None

        def forward(self, x):
            seen = x.detach().abs().reshape(-1, x.shape[-1]).amax(0)
            self.absmax = seen if self.absmax is None else torch.maximum(self.absmax, seen)
            return torch.nn.functional.linear(x, self.weight, self.bias)

    class Int8Linear(torch.nn.Module):
        def __init__(self, weight, bias, smoothing=None):
            super().__init__()
            weight = weight.detach().float()
            if smoothing is not None:
                weight = weight * smoothing  # x W^T = (x / s)(W s)^T
            scale = weight.abs().amax(1).clamp(min=1e-12) / 127
            self.register_buffer(
                "weight_int8", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8).t().contiguous()
            )
            self.register_buffer("weight_scale", scale)
            self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
            self.register_buffer("inverse_smoothing", None if smoothing is None else (1 / smoothing).float())

        def forward(self, x):
            # `.float()` is followed in the exported graph by a metadata assertion, which keeps inductor's freezing
            # pass from turning this into oneDNN's prepacked int8 linear. That is deliberate: written with prims'
            # conversion the pass fires, and the AOTInductor package (torch 2.13) then takes 29 s a call at 1x128
            # (measured, RESULTS.md), where `_int_mm` takes milliseconds.
            if self.inverse_smoothing is not None:
                x = x * self.inverse_smoothing
            scale = x.abs().amax(-1, keepdim=True).clamp(min=1e-12) / 127
            quantized = torch.round(x / scale).clamp(-127, 127).to(torch.int8)
            rows = quantized.reshape(-1, quantized.shape[-1])
            y = torch._int_mm(rows, self.weight_int8).float() * scale.reshape(-1, 1) * self.weight_scale
            y = y.reshape(*x.shape[:-1], y.shape[-1])
            return y if self.bias is None else y + self.bias

    return ObservedLinear, Int8Linear


def _constant(module, node):
    if node is None:
        return None
    if node.op != "get_attr":
        raise LookupError
    target = module
    for part in node.target.split("."):
        target = getattr(target, part)
    return target


def _linears(module) -> list:
    import torch

    found = []
    for node in module.graph.nodes:
        if node.op == "call_function" and node.target is torch.ops.aten.linear.default:
            try:
                weight = _constant(module, node.args[1])
                bias = _constant(module, node.args[2] if len(node.args) > 2 else node.kwargs.get("bias"))
            except LookupError:
                continue  # a weight computed in the graph: left float
            if weight.dim() == 2 and weight.is_floating_point():
                found.append((node, weight, bias))
    return found


def _replace(module, node, name: str, replacement) -> None:
    module.add_submodule(name, replacement)
    with module.graph.inserting_before(node):
        call = module.graph.call_module(name, (node.args[0],))
    node.replace_all_uses_with(call)
    module.graph.erase_node(node)


def quantize_program(program, alpha: float, calibration: Iterable[Mapping]):
    """The program's module with its linears in int8 (see the module docstring), smoothed with `alpha` as calibrated
    on `calibration` (keyword inputs of the module). Raises ValueError when the program has no linear to quantize."""
    import torch

    ObservedLinear, Int8Linear = _modules()
    module = program.module()
    linears = _linears(module)
    if not linears:
        raise ValueError("the program has no linear layer with a constant weight")
    observed = {}
    for index, (node, weight, bias) in enumerate(linears):
        source = node.args[0]
        observed[f"int8_linear_{index}"] = (ObservedLinear(weight, bias), source)
        _replace(module, node, f"int8_linear_{index}", observed[f"int8_linear_{index}"][0])
    module.recompile()
    with torch.no_grad():
        for feed in calibration:
            module(**feed)
    readers = defaultdict(list)  # products that read one input share its smoothing
    for name, (linear, source) in observed.items():
        out_features, in_features = linear.weight.shape
        if alpha > 0 and linear.absmax is not None and in_features <= out_features:
            readers[source].append(name)
    factors = {}
    for names in readers.values():
        weight_absmax = np.max(
            [observed[name][0].weight.detach().abs().amax(0).float().numpy() for name in names], axis=0
        )
        activation_absmax = observed[names[0]][0].absmax.float().numpy()
        for name in names:
            factors[name] = torch.from_numpy(
                smoothing_factors(activation_absmax, weight_absmax, alpha).astype(np.float32)
            )
    for name, (linear, _) in observed.items():
        setattr(module, name, Int8Linear(linear.weight, linear.bias, factors.get(name)))
    _drop_unused_constants(module)
    module.recompile()
    return module


def _drop_unused_constants(module) -> None:
    """Delete the float weights no node reads any more, so that the compiled package does not carry them."""
    module.graph.eliminate_dead_code()
    read = {node.target for node in module.graph.nodes if node.op == "get_attr"}
    for name, _ in list(module.named_parameters(remove_duplicate=False)) + list(
        module.named_buffers(remove_duplicate=False)
    ):
        if name not in read and not name.startswith("int8_linear_"):
            owner, _, leaf = name.rpartition(".")
            holder = module.get_submodule(owner) if owner else module
            if leaf in holder._parameters:
                del holder._parameters[leaf]
            elif leaf in holder._buffers:
                del holder._buffers[leaf]
