"""The seed's ONNX validation API over the one validation loop (`transformers_export.validation.loop`).

`validate_onnx` returns a report and never raises on a mismatch; the seed's `validate_model_outputs` logs the same
lines and raises `ValidationError` on the first failing check.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

from ..dummy_inputs.sizes import VALIDATION_SIZES
from ..errors import ValidationError
from .report import RTOL, Tolerance, ValidationReport

logger = logging.getLogger(__name__)


def validate_onnx(
    onnx_config,
    preprocessor,
    reference_model,
    onnx_path: Path,
    onnx_named_outputs: Sequence[str],
    atol: float,
    sizes: Sequence[dict] = VALIDATION_SIZES,
    min_cosine: float | None = None,
    rtol: float = RTOL,
) -> ValidationReport:
    """Outputs must be within `atol` of PyTorch's, or, with `min_cosine` (quantized graphs), at least that similar."""
    from ..formats import ExportedGraph, get_backend
    from ..layouts import SINGLE_GRAPH
    from .loop import validate_export

    onnx_path = Path(onnx_path)
    exported = ExportedGraph(onnx_path.stem, onnx_path, list(onnx_config.inputs), list(onnx_named_outputs), {}, "trace")
    graph = SimpleNamespace(module=reference_model, config=onnx_config)
    tolerance = Tolerance(atol, rtol, min_cosine)
    return validate_export([graph], [exported], get_backend("onnx"), preprocessor, SINGLE_GRAPH, tolerance, sizes=sizes)


def validate_model_outputs(
    config,
    preprocessor,
    reference_model,
    onnx_model: Path,
    onnx_named_outputs: Sequence[str],
    atol: float,
    tokenizer=None,
) -> ValidationReport:
    """The seed's validation: log the check lines, raise `ValidationError` (a ValueError) on any mismatch."""
    if tokenizer is not None:
        if preprocessor is not None:
            raise ValueError("You cannot provide both a tokenizer and a preprocessor to validate the model outputs.")
        preprocessor = tokenizer
    report = validate_onnx(config, preprocessor, reference_model, Path(onnx_model), onnx_named_outputs, atol)
    for line in report.lines():
        logger.info(line)
    if not report.passed:
        raise ValidationError(report.error)
    return report
