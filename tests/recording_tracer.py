"""A real alternative tracer for the `--tracer` hook test: torch.jit.trace with check_trace, recording each call.

It stands in for accelerator SDK tracers (torch_neuron.trace, torch_neuronx.trace), which take the same arguments.
"""

import torch

CALLS = []


def trace(module, example_inputs, **kwargs):
    CALLS.append([tuple(tensor.shape) for tensor in example_inputs])
    return torch.jit.trace(module, example_inputs, check_trace=True, **kwargs)
