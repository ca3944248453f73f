"""Run the exported file in ONNX Runtime and compare it with the PyTorch model, on shapes other than the trace's.

`validate_onnx` returns a report and never raises on a mismatch, so callers can show every line; the seed's
`validate_model_outputs` logs the same lines and raises `ValidationError` on the first failing check.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..dummy_inputs import VALIDATION_SIZES
from ..errors import MissingDependencyError, ValidationError
from ..exportable import named_outputs
from ..validation import ShapeRun, ValidationReport, _compare, _runtime_message

logger = logging.getLogger(__name__)

# A real decode for graphs with a KV cache: a left-padded prompt with an empty past, then single-token steps that feed
# the graph's own `present.*` back, compared with PyTorch fed its own cache at every step.
DECODE_BATCH, DECODE_PROMPT, DECODE_STEPS = 3, 6, 3


def _session(onnx_path: Path):
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingDependencyError("validation needs onnxruntime: pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def validate_onnx(
    onnx_config,
    preprocessor,
    reference_model,
    onnx_path: Path,
    onnx_named_outputs: Sequence[str],
    atol: float,
    sizes: Sequence[dict] = VALIDATION_SIZES,
    min_cosine: float | None = None,
) -> ValidationReport:
    """Outputs must be within `atol` of PyTorch's, or, with `min_cosine` (quantized graphs), at least that similar."""
    import torch

    session = _session(onnx_path)
    graph_inputs = {graph_input.name for graph_input in session.get_inputs()}
    report = ValidationReport(atol=atol)
    reference_model.eval()
    onnx_config.bind_model(reference_model)
    for run_sizes in sizes:
        inputs = onnx_config.generate_dummy_inputs_for_sizes(run_sizes, preprocessor)
        if min_cosine is not None:
            inputs = _unpadded(inputs)
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
            run.outputs.append(_compare(name, reference[name].numpy(), actual[name], atol, min_cosine))
    if getattr(onnx_config, "use_past", False) and report.passed:
        from ..config import OnnxSeq2SeqConfigWithPast

        decode = _monolith_decode_runs if isinstance(onnx_config, OnnxSeq2SeqConfigWithPast) else _decode_runs
        graph = Path(onnx_path).name
        report.runs.extend(decode(onnx_config, reference_model, session, list(onnx_named_outputs), atol, graph, min_cosine))
    return report


def _unpadded(inputs: dict) -> dict:
    """Quantized graphs are compared without padding: outputs at padded positions mean nothing, and their
    quantization error is unbounded relative to their values. Padding itself was validated exactly on the float
    graph, and quantizing weights does not change how a graph handles it."""
    import torch

    return {name: torch.ones_like(value) if name.endswith("_mask") else value for name, value in inputs.items()}


def _decode_runs(onnx_config, model, session, output_names: list[str], atol: float, graph: str, min_cosine=None) -> list[ShapeRun]:
    import torch

    from ..runtime.decoder import OnnxDecoder

    decoder = OnnxDecoder(None, session=session)
    config = model.config
    pad = getattr(config, "pad_token_id", None) or 0
    rng = np.random.default_rng(0)
    step_ids = rng.integers(0, getattr(config, "vocab_size", 2), (DECODE_BATCH, DECODE_PROMPT))
    mask = np.ones_like(step_ids)
    for row, padding in enumerate((2, 1) if min_cosine is None else ()):  # see `_unpadded`
        mask[row, :padding] = 0
    step_ids[mask == 0] = pad
    past_onnx = past_torch = decoder.empty_past(DECODE_BATCH)
    runs = []
    for step in range(DECODE_STEPS + 1):
        sizes = {"step": step, "batch": DECODE_BATCH, "sequence": step_ids.shape[1], "past_sequence": mask.shape[1] - step_ids.shape[1]}
        try:
            actual = decoder.run(decoder.feed(step_ids, mask, past_onnx))
        except Exception as error:  # onnxruntime's own exception types
            runs.append(ShapeRun(sizes, [], output_names, runtime_error=_runtime_message(error), graph=graph))
            break
        inputs = {name: torch.from_numpy(value) for name, value in decoder.feed(step_ids, mask, past_torch).items()}
        with torch.no_grad(), onnx_config.patched(model):
            output = model(**onnx_config.model_inputs(inputs, model), return_dict=True)
            reference = {name: tensor.numpy() for name, tensor in named_outputs(output, list(onnx_config.outputs), onnx_config).items()}
        run = ShapeRun(sizes, list(reference), output_names, graph=graph)
        run.outputs = [_compare(name, reference[name], actual[name], atol, min_cosine) for name in output_names]
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


def validate_generation_layout(onnx_config, model, folder: Path, atol: float, min_cosine: float | None = None) -> list[ShapeRun]:
    """Encoder once, then decoder steps feeding `present.*.decoder.*` back (see `_encoder_decoder_decode_runs`)."""
    from ..runtime.encoder_decoder import OnnxEncoderDecoder

    runtime = OnnxEncoderDecoder(folder)

    def step(source, mask, step_ids, cross, past):
        return runtime.run(runtime.feed(step_ids, mask, cross, past))

    return _encoder_decoder_decode_runs(onnx_config, model, step, atol, "encoder + decoder", runtime.encode, min_cosine)


def _monolith_decode_runs(
    onnx_config, model, session, output_names: list[str], atol: float, graph: str, min_cosine=None
) -> list[ShapeRun]:
    """The seed's single graph with a cache cannot compute the cross-attention cache it takes; the decode gives it
    PyTorch's, then feeds back its own presents."""
    graph_inputs = {graph_input.name for graph_input in session.get_inputs()}

    def step(source, mask, step_ids, cross, past):
        past_length = next(iter(past.values())).shape[2] if past else 0
        feed = {
            "input_ids": source,
            "attention_mask": mask,
            "decoder_input_ids": step_ids,
            "decoder_attention_mask": np.ones((step_ids.shape[0], past_length + step_ids.shape[1]), dtype=np.int64),
            **cross,
            **past,
        }
        feed = {name: value for name, value in feed.items() if name in graph_inputs}
        return dict(zip(output_names, session.run(output_names, feed)))

    return _encoder_decoder_decode_runs(onnx_config, model, step, atol, graph, None, min_cosine)


def _encoder_decoder_decode_runs(
    onnx_config, model, run_step, atol: float, graph: str, encode=None, min_cosine=None
) -> list[ShapeRun]:
    """A real decode: batch 3 with a right-padded source, the decoder from the start token with an empty past, each
    step fed the previous step's presents, against PyTorch fed its own cache at every step.

    `run_step(source, mask, decoder_input_ids, cross, past)` runs one exported step; `encode(source, mask)` gives the
    cross-attention cache as `past_key_values.{i}.encoder.*` (without it, PyTorch's is used).
    """
    import torch
    from ..kv_cache import cache_argument, empty_encoder_decoder_cache, layer_tensors, model_cache
    from ..runtime.decoder import presents_as_past
    from ..seq2seq import decoder_start_token_id

    config = model.config
    rng = np.random.default_rng(0)
    source = rng.integers(3, getattr(config, "vocab_size", 4), (DECODE_BATCH, DECODE_PROMPT + 1))
    mask = np.ones_like(source)
    if min_cosine is None:  # see `_unpadded`
        mask[0, -2:] = 0
    source[mask == 0] = getattr(config, "pad_token_id", None) or 0
    with torch.no_grad(), onnx_config.patched(model):
        encoder_outputs = model.get_encoder()(input_ids=torch.from_numpy(source), attention_mask=torch.from_numpy(mask), return_dict=True)
    cross = encode(source, mask) if encode else None
    past = {
        f"past_key_values.{i}.decoder.{kind}": np.zeros((DECODE_BATCH, heads, 0, dim), np.float32)
        for i, (self_shape, _) in enumerate(onnx_config.layer_shapes())
        for kind, (heads, dim) in (("key", self_shape.key), ("value", self_shape.value))
    }
    cache = empty_encoder_decoder_cache()
    step_ids = np.full((DECODE_BATCH, 1), decoder_start_token_id(model), dtype=np.int64)
    runs = []
    for step in range(DECODE_STEPS + 1):
        sizes = {"step": step, "batch": DECODE_BATCH, "encoder_sequence": source.shape[1], "past_decoder_sequence": step}
        with torch.no_grad(), onnx_config.patched(model):
            output = model(
                encoder_outputs=encoder_outputs,
                attention_mask=torch.from_numpy(mask),
                decoder_input_ids=torch.from_numpy(step_ids),
                use_cache=True,
                return_dict=True,
                **{cache_argument(model): cache},
            )
        main = next(name for name in ("logits", "last_hidden_state") if output.get(name) is not None)
        reference = {main: output[main].numpy()}
        presents = onnx_config.flatten_output_collection_property("present", layer_tensors(model_cache(output)))
        reference.update({name: tensor.numpy() for name, tensor in presents.items()})
        if cross is None:
            cross = presents_as_past({name: value for name, value in reference.items() if ".encoder." in name})
        try:
            actual = run_step(source, mask, step_ids, cross, past)
        except Exception as error:  # onnxruntime's own exception types
            runs.append(ShapeRun(sizes, [], [], runtime_error=_runtime_message(error), graph=graph))
            break
        run = ShapeRun(sizes, list(reference), list(actual), graph=graph)
        runs.append(run)
        if not run.names_ok:
            break
        run.outputs = [_compare(name, reference[name], actual[name], atol, min_cosine) for name in actual]
        if not all(check.shape_ok and check.values_ok for check in run.outputs):
            break
        if main == "logits":
            step_ids = reference[main][:, -1].argmax(-1)[:, None]
        else:
            step_ids = rng.integers(3, getattr(config, "vocab_size", 4), (DECODE_BATCH, 1))
        past = presents_as_past({name: value for name, value in actual.items() if ".decoder." in name})
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

