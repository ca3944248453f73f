"""Run the exported file in ONNX Runtime and compare it with the PyTorch model, on shapes other than the trace's.

`validate_onnx` returns a report and never raises on a mismatch, so callers can show every line; the seed's
`validate_model_outputs` logs the same lines and raises `ValidationError` on the first failing check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..dummy_inputs import VALIDATION_SIZES
from ..errors import MissingDependencyError, ValidationError
from ..exportable import named_outputs

logger = logging.getLogger(__name__)

RTOL = 1e-5  # numpy.allclose's default, as the seed used it
# A real decode for graphs with a KV cache: a left-padded prompt with an empty past, then single-token steps that feed
# the graph's own `present.*` back, compared with PyTorch fed its own cache at every step.
DECODE_BATCH, DECODE_PROMPT, DECODE_STEPS = 3, 6, 3


@dataclass
class OutputCheck:
    name: str
    reference_shape: list[int]
    onnx_shape: list[int]
    max_abs_diff: float | None
    atol: float
    values_ok: bool = False

    @property
    def shape_ok(self) -> bool:
        return self.reference_shape == self.onnx_shape


@dataclass
class ShapeRun:
    sizes: dict[str, int]
    reference_names: list[str]
    onnx_names: list[str]
    outputs: list[OutputCheck] = field(default_factory=list)
    runtime_error: str | None = None
    graph: str = ""  # the file, when an export has several

    @property
    def names_ok(self) -> bool:
        return set(self.onnx_names) <= set(self.reference_names)


@dataclass
class ValidationReport:
    atol: float
    runs: list[ShapeRun] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """The first failure as one sentence, or None when everything matched."""
        for run in self.runs:
            where = ", ".join(f"{axis}={size}" for axis, size in run.sizes.items())
            if run.graph and run.graph != "model.onnx":
                where = f"{where} of {run.graph}"
            if run.runtime_error:
                return (
                    f"ONNX Runtime failed on inputs {where}: {run.runtime_error} "
                    "(the graph is probably specialised to the traced shapes; try the other --engine)"
                )
            if not run.names_ok:
                missing = sorted(set(run.onnx_names) - set(run.reference_names))
                return f"output names {missing} of the ONNX model are not outputs of the reference model"
            for check in run.outputs:
                if not check.shape_ok:
                    return (
                        f"output '{check.name}' has shape {tuple(check.onnx_shape)} in ONNX but "
                        f"{tuple(check.reference_shape)} in PyTorch (inputs {where})"
                    )
                if not check.values_ok:
                    return (
                        f"output '{check.name}' differs from PyTorch: max abs diff {check.max_abs_diff:.3g} > atol "
                        f"{check.atol:g} (inputs {where}); if the difference is acceptable, raise --atol"
                    )
        return None

    @property
    def passed(self) -> bool:
        return self.error is None

    def lines(self) -> list[str]:
        """The seed's validation log, once per validation shape."""
        lines = []
        for run in self.runs:
            where = ", ".join(f"{axis}={size}" for axis, size in run.sizes.items())
            graph = f" {run.graph}" if run.graph and run.graph != "model.onnx" else ""
            lines.append(f"Validating ONNX model{graph}... (inputs {where})")
            names = set(run.onnx_names)
            if run.runtime_error:
                lines.append(f"\t-[x] ONNX Runtime failed: {run.runtime_error}")
                continue
            if run.names_ok:
                lines.append(f"\t-[✓] ONNX model output names match reference model ({names})")
            else:
                lines.append(f"\t-[x] ONNX model output names {names} do not match reference model {set(run.reference_names)}")
            for check in run.outputs:
                lines.append(f'\t- Validating ONNX Model output "{check.name}":')
                onnx_shape, ref_shape = tuple(check.onnx_shape), tuple(check.reference_shape)
                if not check.shape_ok:
                    lines.append(f"\t\t-[x] shape {onnx_shape} doesn't match {ref_shape}")
                    continue
                lines.append(f"\t\t-[✓] {onnx_shape} matches {ref_shape}")
                mark = "✓] all values close" if check.values_ok else "x] values not close enough"
                lines.append(f"\t\t-[{mark} (atol: {check.atol:g}, max abs diff: {check.max_abs_diff:.3g})")
        return lines

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "atol": self.atol,
            "error": self.error,
            "runs": [
                {
                    "graph": run.graph,
                    "sizes": run.sizes,
                    "outputs": {
                        check.name: {"shape": check.onnx_shape, "max_abs_diff": check.max_abs_diff}
                        for check in run.outputs
                    },
                }
                for run in self.runs
            ],
        }


def _session(onnx_path: Path):
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingDependencyError("validation needs onnxruntime: pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def _runtime_message(error: Exception) -> str:
    text = " ".join(str(error).split())
    # "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Reshape node. Name:'...' ..."
    return text[:300]


def _compare(name: str, reference: np.ndarray, actual: np.ndarray, atol: float) -> OutputCheck:
    check = OutputCheck(name, list(reference.shape), list(actual.shape), None, atol)
    if check.shape_ok:
        diff = np.abs(reference.astype(np.float64) - actual.astype(np.float64))
        check.max_abs_diff = float(np.nanmax(diff)) if diff.size else 0.0
        if np.isnan(diff).any():
            check.max_abs_diff = float("nan")
        check.values_ok = bool(np.allclose(reference, actual, atol=atol, rtol=RTOL))
    return check


def validate_onnx(
    onnx_config,
    preprocessor,
    reference_model,
    onnx_path: Path,
    onnx_named_outputs: Sequence[str],
    atol: float,
    sizes: Sequence[dict] = VALIDATION_SIZES,
) -> ValidationReport:
    import torch

    session = _session(onnx_path)
    graph_inputs = {graph_input.name for graph_input in session.get_inputs()}
    report = ValidationReport(atol=atol)
    reference_model.eval()
    onnx_config.bind_model(reference_model)
    for run_sizes in sizes:
        inputs = onnx_config.generate_dummy_inputs(
            preprocessor,
            batch_size=run_sizes.get("batch", -1),
            seq_length=run_sizes.get("sequence", -1),
            num_choices=run_sizes.get("num_choices", -1),
            past_length=run_sizes.get("past_sequence", -1),
            decoder_length=run_sizes.get("decoder_sequence", -1),
        )
        with torch.no_grad(), onnx_config.patched(reference_model):
            model_output = reference_model(**onnx_config.model_inputs(inputs, reference_model), return_dict=True)
            reference = named_outputs(model_output, list(onnx_config.outputs), onnx_config)
        feed = onnx_config.generate_dummy_inputs_onnxruntime(inputs)
        feed = {name: tensor.numpy() for name, tensor in feed.items() if name in graph_inputs}
        shown = {
            axis: size
            for axis, size in run_sizes.items()
            if any(axis in axes.values() for axes in onnx_config.inputs.values())
        }
        run = ShapeRun(shown, list(reference), list(onnx_named_outputs), graph=Path(onnx_path).name)
        report.runs.append(run)
        if not run.names_ok:
            break
        try:
            actual = dict(zip(onnx_named_outputs, session.run(list(onnx_named_outputs), feed)))
        except Exception as error:  # onnxruntime raises its own exception types for shape/kernel failures
            run.runtime_error = _runtime_message(error)
            break
        for name in onnx_named_outputs:
            run.outputs.append(_compare(name, reference[name].numpy(), actual[name], atol))
    if getattr(onnx_config, "use_past", False) and report.passed:
        report.runs.extend(_decode_runs(onnx_config, reference_model, session, list(onnx_named_outputs), atol))
    return report


def _decode_runs(onnx_config, model, session, output_names: list[str], atol: float) -> list[ShapeRun]:
    import torch

    from ..runtime.decoder import OnnxDecoder

    decoder = OnnxDecoder(None, session=session)
    config = model.config
    pad = getattr(config, "pad_token_id", None) or 0
    rng = np.random.default_rng(0)
    step_ids = rng.integers(0, getattr(config, "vocab_size", 2), (DECODE_BATCH, DECODE_PROMPT))
    mask = np.ones_like(step_ids)
    for row, padding in enumerate((2, 1)):
        mask[row, :padding] = 0
    step_ids[mask == 0] = pad
    past_onnx = past_torch = decoder.empty_past(DECODE_BATCH)
    runs = []
    for step in range(DECODE_STEPS + 1):
        sizes = {"step": step, "batch": DECODE_BATCH, "sequence": step_ids.shape[1], "past_sequence": mask.shape[1] - step_ids.shape[1]}
        try:
            actual = decoder.run(decoder.feed(step_ids, mask, past_onnx))
        except Exception as error:  # onnxruntime's own exception types
            runs.append(ShapeRun(sizes, [], output_names, runtime_error=_runtime_message(error)))
            break
        inputs = {name: torch.from_numpy(value) for name, value in decoder.feed(step_ids, mask, past_torch).items()}
        with torch.no_grad(), onnx_config.patched(model):
            output = model(**onnx_config.model_inputs(inputs, model), return_dict=True)
            reference = {name: tensor.numpy() for name, tensor in named_outputs(output, list(onnx_config.outputs), onnx_config).items()}
        run = ShapeRun(sizes, list(reference), output_names)
        run.outputs = [_compare(name, reference[name], actual[name], atol) for name in output_names]
        runs.append(run)
        if not all(check.shape_ok and check.values_ok for check in run.outputs):
            break
        if "logits" in reference:
            next_tokens = reference["logits"][:, -1].argmax(-1)
        else:
            next_tokens = rng.integers(0, getattr(config, "vocab_size", 2), DECODE_BATCH)
        step_ids = next_tokens[:, None]
        mask = np.concatenate([mask, np.ones((DECODE_BATCH, 1), dtype=mask.dtype)], axis=1)
        past_onnx, past_torch = decoder.next_past(actual), decoder.next_past(reference)
    return runs


def validate_generation_layout(onnx_config, model, folder: Path, atol: float) -> list[ShapeRun]:
    """Encoder once, then decoder steps feeding `present.*.decoder.*` back, against the PyTorch model's own cache.

    Batch 3 with a right-padded source, decoder starting from the start token with an empty past.
    """
    import torch
    from transformers import DynamicCache, EncoderDecoderCache

    from ..kv_cache import cache_argument, model_cache, pairs_from_cache
    from ..runtime.encoder_decoder import OnnxEncoderDecoder
    from ..seq2seq import decoder_start_token_id

    runtime = OnnxEncoderDecoder(folder)
    config = model.config
    rng = np.random.default_rng(0)
    source = rng.integers(3, getattr(config, "vocab_size", 4), (DECODE_BATCH, DECODE_PROMPT + 1))
    mask = np.ones_like(source)
    mask[0, -2:] = 0
    source[mask == 0] = getattr(config, "pad_token_id", None) or 0
    main = runtime.main_output
    with torch.no_grad(), onnx_config.patched(model):
        encoder_outputs = model.get_encoder()(input_ids=torch.from_numpy(source), attention_mask=torch.from_numpy(mask), return_dict=True)
    cross = runtime.encode(source, mask)
    past = runtime.empty_past(DECODE_BATCH)
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    step_ids = np.full((DECODE_BATCH, 1), decoder_start_token_id(model), dtype=np.int64)
    runs = []
    for step in range(DECODE_STEPS + 1):
        sizes = {"step": step, "batch": DECODE_BATCH, "encoder_sequence": source.shape[1], "past_decoder_sequence": step}
        try:
            actual = runtime.run(runtime.feed(step_ids, mask, cross, past))
        except Exception as error:  # onnxruntime's own exception types
            runs.append(ShapeRun(sizes, [], [], runtime_error=_runtime_message(error), graph="decoder_model.onnx"))
            break
        with torch.no_grad(), onnx_config.patched(model):
            output = model(
                encoder_outputs=encoder_outputs,
                attention_mask=torch.from_numpy(mask),
                decoder_input_ids=torch.from_numpy(step_ids),
                use_cache=True,
                return_dict=True,
                **{cache_argument(model): cache},
            )
        reference = {main: output[main].numpy()}
        for i, (key, value) in enumerate(pairs_from_cache(model_cache(output).self_attention_cache)):
            reference[f"present.{i}.decoder.key"], reference[f"present.{i}.decoder.value"] = key.numpy(), value.numpy()
        run = ShapeRun(sizes, list(reference), list(actual), graph="encoder + decoder")
        run.outputs = [_compare(name, reference[name], actual[name], atol) for name in actual]
        runs.append(run)
        if not all(check.shape_ok and check.values_ok for check in run.outputs):
            break
        if main == "logits":
            step_ids = reference[main][:, -1].argmax(-1)[:, None]
        else:
            step_ids = rng.integers(3, getattr(config, "vocab_size", 4), (DECODE_BATCH, 1))
        past = runtime.next_past(actual)
    return runs


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

