"""Validation cases at fixed shapes: inputs, PyTorch's outputs on them, and an export run on the same inputs.

A `Case` is one comparison at fixed shapes; `loop.py` orders them in two phases, and `decodes.py` adds the reference
decodes of graphs with a cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..dummy_inputs.sizes import CALIBRATION_SIZES, VALIDATION_SIZES
from ..formats.exportable import named_outputs
from .padding import padded_positions, without_padding
from .report import ShapeRun, Tolerance, compare, runtime_message


@dataclass
class Case:
    """One comparison: the inputs, PyTorch's outputs, and how the report labels it."""

    sizes: dict[str, int]
    feed: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    graph: str = ""
    padding: dict = field(default_factory=dict)  # positions not compared (`padding.py`)


def numpy_tensors(tensors: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """numpy copies; bfloat16, which numpy lacks, as float32 (compared as such, fed back as bfloat16 by the backend)."""
    return {name: _as_numpy(value) for name, value in tensors.items()}


def numpy_dtype(torch_dtype) -> type:
    """The numpy dtype a model's float tensors are compared in (`_as_numpy`)."""
    return np.float16 if str(torch_dtype) == "torch.float16" else np.float32


def _as_numpy(value) -> np.ndarray:
    if not hasattr(value, "numpy"):
        return np.asarray(value)
    import torch

    return value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()


def _unpadded(inputs: dict) -> dict:
    """Quantized graphs are compared without padding: outputs at padded positions mean nothing, and their quantization
    error is unbounded relative to their values. Padding itself was validated exactly on the float graph."""
    import torch

    return {name: torch.ones_like(value) if name.endswith("_mask") else value for name, value in inputs.items()}


def reference_cases(
    config, module, preprocessor, graph: str, sizes_list=VALIDATION_SIZES, unpadded=False
) -> list[Case]:
    import torch

    module.eval()
    config.bind_model(module)
    cases = []
    used = {axis for axes in config.inputs.values() for axis in axes.values()}
    for sizes in sizes_list:
        inputs = config.generate_dummy_inputs_for_sizes(sizes, preprocessor)
        if unpadded:
            inputs = _unpadded(inputs)
        with torch.no_grad(), config.patched(module):
            output = module(**config.model_inputs(inputs, module), return_dict=True)
            reference = named_outputs(output, list(config.outputs), config)
        feed = numpy_tensors(config.generate_dummy_inputs_onnxruntime(inputs))
        # the sizes the tensors have, not the ones asked for: a size the dummy inputs ignored would show
        shown = {axis: size for axis, size in sizes.items() if axis in used}
        for name, axes in config.inputs.items():
            shown.update(
                {
                    axis_name: int(inputs[name].shape[axis])
                    for axis, axis_name in axes.items()
                    if name in inputs and "+" not in axis_name
                }
            )
        reference = numpy_tensors(reference)
        mask, mask_axes = feed.get("attention_mask"), config.inputs.get("attention_mask", {})
        padding = {}
        if mask is not None and mask.ndim == 2 and isinstance(mask_axes.get(1), str):
            padding = padded_positions(
                config.outputs, mask_axes[1], mask, {name: value.shape for name, value in reference.items()}
            )
        cases.append(Case(shown, feed, reference, graph, padding))
    return cases


def calibration_feeds(config, module, preprocessor, texts: Sequence[str] = ()) -> list[dict[str, np.ndarray]]:
    """Unpadded inputs for the float graph, never the validation's (that would make the validation optimistic).
    A graph that reads token ids gets `texts` through the tokenizer, one sentence a run: random ids push a real
    model's activations where text never goes, and SmoothQuant's factors would follow them. Other graphs get dummy
    inputs at sizes of their own."""
    config.bind_model(module)
    tokenizer = preprocessor if callable(getattr(preprocessor, "encode", None)) else None
    if tokenizer is None or not texts or "input_ids" not in config.inputs:
        inputs = _unpadded(config.generate_dummy_inputs_for_sizes(CALIBRATION_SIZES, preprocessor))
        return [numpy_tensors(config.generate_dummy_inputs_onnxruntime(inputs))]
    feeds = []
    for text in texts:
        ids = tokenizer(text, return_tensors="pt")["input_ids"][:, :64]
        inputs = _unpadded(
            config.generate_dummy_inputs_for_sizes(
                {**CALIBRATION_SIZES, "batch": 1, "sequence": ids.shape[1]}, preprocessor
            )
        )
        inputs["input_ids"] = ids
        feeds.append(numpy_tensors(config.generate_dummy_inputs_onnxruntime(inputs)))
    return feeds


def run_cases(cases: Sequence[Case], run: Callable[[dict], dict], tolerance: Tolerance) -> list[ShapeRun]:
    """The export on each case; stops at the first failing one (later ones would only repeat it)."""
    runs = []
    for case in cases:
        shape_run = ShapeRun(case.sizes, list(case.reference), [], graph=case.graph)
        runs.append(shape_run)
        try:
            actual = run(case.feed)
        except Exception as error:  # each runtime raises its own exception types for shape and kernel failures
            shape_run.runtime_error = runtime_message(error)
            break
        shape_run.actual_names, shape_run.actual = list(actual), actual
        if not shape_run.names_ok:
            break
        reference, compared = without_padding(case.reference, case.padding), without_padding(actual, case.padding)
        shape_run.outputs = [compare(name, reference[name], compared[name], tolerance) for name in case.reference]
        if not shape_run.passed:
            break
    return runs
