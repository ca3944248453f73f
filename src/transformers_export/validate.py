"""Stage: run every written graph through its format's backend and compare it with the PyTorch model.

One loop for every format. It runs in two phases so that the model and the exported graph need not be resident
together: first PyTorch computes every reference (the fixed shapes, which are not the trace's, and a real decode
for graphs with a cache); then the backend runs the same inputs, feeding its own cache back at every decode step.

Decode: a left-padded prompt (decoder-only) or a right-padded source (encoder-decoder), starting from an empty
past, then single-token steps that take the reference's greedy token; PyTorch is fed its own cache, the export its
own `present.*`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import cache
from .dummy_inputs import DEFAULT_SIZES, VALIDATION_SIZES
from .errors import ExportError
from .exportable import named_outputs
from .runtime.decoder import position_ids_from_mask
from .validation import ShapeRun, Tolerance, ValidationReport, compare, runtime_message

DECODE_BATCH, DECODE_PROMPT, DECODE_STEPS = 3, 6, 3


@dataclass
class Case:
    """One comparison: the inputs, PyTorch's outputs, and how the report labels it."""

    sizes: dict[str, int]
    feed: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    graph: str = ""


@dataclass
class DecodeTrace:
    """A reference decode: per step, the new tokens, the mask, PyTorch's outputs (and, encoder-decoder, the source)."""

    steps: list[Case] = field(default_factory=list)
    source: np.ndarray | None = None
    source_mask: np.ndarray | None = None


def _numpy(tensors: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """numpy copies; bfloat16, which numpy lacks, as float32 (compared as such, fed back as bfloat16 by the backend)."""
    return {name: _as_numpy(value) for name, value in tensors.items()}


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


def reference_cases(config, module, preprocessor, graph: str, sizes_list=VALIDATION_SIZES, unpadded=False) -> list[Case]:
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
        feed = _numpy(config.generate_dummy_inputs_onnxruntime(inputs))
        shown = {axis: size for axis, size in sizes.items() if axis in used}
        cases.append(Case(shown, feed, _numpy(reference), graph))
    return cases


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
        shape_run.outputs = [compare(name, case.reference[name], actual[name], tolerance) for name in case.reference]
        if not shape_run.passed:
            break
    return runs


# --- decoder-only decode ------------------------------------------------------------------------------------------


def _decoder_feed(ids, mask, past) -> dict:
    return {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids_from_mask(mask, ids.shape[1]), **past}


def reference_decode(config, model, graph: str, unpadded=False) -> DecodeTrace:
    import torch

    vocab = getattr(model.config, "vocab_size", 2)
    pad = getattr(model.config, "pad_token_id", None) or 0
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, (DECODE_BATCH, DECODE_PROMPT))
    mask = np.ones_like(ids)
    for row, padding in enumerate(() if unpadded else (2, 1)):
        mask[row, :padding] = 0
    ids[mask == 0] = pad
    dtype = getattr(config, "_float_dtype", None)
    past = _numpy({name: value.to(dtype or value.dtype) for name, value in cache.dummy_past(DECODE_BATCH, config.layer_shapes(), {None: 0}).items()})
    trace = DecodeTrace()
    for step in range(DECODE_STEPS + 1):
        feed = _decoder_feed(ids, mask, past)
        inputs = {name: torch.from_numpy(value) for name, value in feed.items() if name in config.inputs}
        inputs = {name: t.to(dtype) if dtype and t.is_floating_point() else t for name, t in inputs.items()}
        with torch.no_grad(), config.patched(model):
            output = model(**config.model_inputs(inputs, model), return_dict=True)
            reference = _numpy(named_outputs(output, list(config.outputs), config))
        sizes = {"step": step, "batch": DECODE_BATCH, "sequence": ids.shape[1], "past_sequence": mask.shape[1] - ids.shape[1]}
        trace.steps.append(Case(sizes, {"input_ids": ids, "attention_mask": mask}, reference, graph))
        if "logits" in reference:
            ids = reference["logits"][:, -1].argmax(-1)[:, None]
        else:
            ids = rng.integers(0, vocab, (DECODE_BATCH, 1))
        mask = np.concatenate([mask, np.ones((DECODE_BATCH, 1), dtype=mask.dtype)], axis=1)
        past = cache.presents_as_past(reference)
    return trace


def run_decode(trace: DecodeTrace, run, tolerance: Tolerance) -> list[ShapeRun]:
    """Steps of a decoder-only graph fed its own presents."""
    runs, past = [], None
    for case in trace.steps:
        if past is None:  # the first step's past is empty: take its shapes from the reference's presents
            past = {name: value[:, :, :0] for name, value in cache.presents_as_past(case.reference).items()}
        feed = _decoder_feed(case.feed["input_ids"], case.feed["attention_mask"], past)
        shape_runs = run_cases([Case(case.sizes, feed, case.reference, case.graph)], run, tolerance)
        runs.extend(shape_runs)
        if not shape_runs[-1].passed:
            break
        past = cache.presents_as_past(shape_runs[-1].actual)
    return runs


# --- encoder-decoder decode ---------------------------------------------------------------------------------------


def reference_seq2seq_decode(config, model, graph: str, unpadded=False) -> DecodeTrace:
    """Batch 3 with a right-padded source, the decoder from its start token with an empty past."""
    import torch

    vocab = getattr(model.config, "vocab_size", 4)
    rng = np.random.default_rng(0)
    source = rng.integers(3, vocab, (DECODE_BATCH, DECODE_PROMPT + 1))
    mask = np.ones_like(source)
    if not unpadded:
        mask[0, -2:] = 0
    source[mask == 0] = getattr(model.config, "pad_token_id", None) or 0
    with torch.no_grad(), config.patched(model):
        encoder_outputs = model.get_encoder()(input_ids=torch.from_numpy(source), attention_mask=torch.from_numpy(mask), return_dict=True)
    past_cache = cache.empty_encoder_decoder_cache()
    step_ids = np.full((DECODE_BATCH, 1), cache.decoder_start_token_id(model), dtype=np.int64)
    trace = DecodeTrace(source=source, source_mask=mask)
    for step in range(DECODE_STEPS + 1):
        with torch.no_grad(), config.patched(model):
            output = model(
                encoder_outputs=encoder_outputs,
                attention_mask=torch.from_numpy(mask),
                decoder_input_ids=torch.from_numpy(step_ids),
                use_cache=True,
                return_dict=True,
                **{cache.cache_argument(model): past_cache},
            )
        main = next(name for name in ("logits", "last_hidden_state") if output.get(name) is not None)
        reference = {main: output[main].numpy(), **_numpy(cache.flatten(cache.PRESENT, cache.layer_tensors(cache.model_cache(output))))}
        sizes = {"step": step, "batch": DECODE_BATCH, "encoder_sequence": source.shape[1], "past_decoder_sequence": step}
        trace.steps.append(Case(sizes, {"decoder_input_ids": step_ids}, reference, graph))
        step_ids = reference[main][:, -1].argmax(-1)[:, None] if main == "logits" else rng.integers(3, vocab, (DECODE_BATCH, 1))
    return trace


def run_seq2seq_decode(trace: DecodeTrace, run_step, tolerance: Tolerance, encode=None) -> list[ShapeRun]:
    """`run_step(source, mask, decoder_input_ids, cross, past)` runs one exported step; `encode(source, mask)` gives
    the cross-attention cache (without it, PyTorch's is used: the seed's single graph cannot compute it)."""
    runs, past = [], None
    cross = encode(trace.source, trace.source_mask) if encode else None
    for case in trace.steps:
        if cross is None:
            cross = cache.presents_as_past(case.reference, side="encoder")
        if past is None:
            past = {name: value[:, :, :0] for name, value in cache.presents_as_past(case.reference, side="decoder").items()}
        # only what the graph returns is compared: the generation decoder does not return the cross-attention cache
        shape_run = ShapeRun(case.sizes, list(case.reference), [], graph=case.graph)
        runs.append(shape_run)
        try:
            actual = run_step(trace.source, trace.source_mask, case.feed["decoder_input_ids"], cross, past)
        except Exception as error:  # each runtime raises its own exception types
            shape_run.runtime_error = runtime_message(error)
            break
        shape_run.actual_names = list(actual)
        if not set(actual) <= set(case.reference):
            break
        shape_run.reference_names = list(actual)
        shape_run.outputs = [compare(name, case.reference[name], actual[name], tolerance) for name in actual]
        if not shape_run.passed:
            break
        past = cache.presents_as_past(actual, side="decoder")
    return runs


@dataclass
class References:
    """Everything PyTorch computed for one validation: per graph, the cases at the fixed shapes (and at the traced
    shape, for formats whose traces may be specialised), and the reference decode of the layout."""

    cases: list[list[Case]]
    at_trace: list[list[Case]] | None
    decode: DecodeTrace | None
    kind: str | None  # decoder, seq2seq (the seed's single graph), generation, or None


def compute_references(graphs, exported, backend, preprocessor, layout: str, unpadded=False, sizes=VALIDATION_SIZES) -> References:
    """Phase 1: PyTorch alone. `graphs` are anything with `.module` and `.config`."""
    cases = [reference_cases(g.config, g.module, preprocessor, w.path.name, sizes, unpadded) for g, w in zip(graphs, exported)]
    at_trace = None
    if backend.may_specialise:
        at_trace = [
            reference_cases(g.config, g.module, preprocessor, w.path.name, [{**DEFAULT_SIZES, **w.trace_sizes}])
            for g, w in zip(graphs, exported)
        ]
    main = graphs[0].config
    kind, decode = None, None
    if layout == "generation":
        kind = "generation"
        decode = reference_seq2seq_decode(main.parent, graphs[0].module.model, "encoder + decoder", unpadded)  # runs both graphs
    elif getattr(main, "use_past", False) and main.is_seq2seq_graph and backend.decodes_seq2seq_monolith:
        kind = "seq2seq"
        decode = reference_seq2seq_decode(main, graphs[0].module, exported[0].path.name, unpadded)
    elif getattr(main, "use_past", False) and not main.is_seq2seq_graph:
        kind = "decoder"
        decode = reference_decode(main, graphs[0].module, exported[0].path.name, unpadded)
    return References(cases, at_trace, decode, kind)


def check_export(references: References, exported, backend, tolerance: Tolerance, progress=None) -> ValidationReport:
    """Phase 2: the export alone, on the inputs of `references`, feeding its own cache back while decoding.
    `progress(runs_done, runs_total)` after each run."""
    report = ValidationReport(atol=tolerance.atol, rtol=tolerance.rtol, artifact=backend.artifact, runtime=backend.runtime)
    loaded = []
    for written in exported:
        try:
            loaded.append(backend.load(written))
        except Exception as error:  # each runtime has its own exception types for a graph it cannot load
            if isinstance(error, ExportError):
                raise
            report.runs.append(ShapeRun({}, [], [], runtime_error=runtime_message(error), graph=written.path.name))  # no inputs: loading
            return report
    total = sum(len(cases) for cases in references.cases) + (len(references.decode.steps) if references.decode else 0)
    done = [0]

    def runner(index):
        def run(feed):
            outputs = backend.run(loaded[index], exported[index], feed)
            done[0] += 1
            if progress:
                progress(done[0], total)
            return outputs

        return run

    for index, cases in enumerate(references.cases):
        runs = run_cases(cases, runner(index), tolerance)
        if references.at_trace and not all(run.passed for run in runs):
            retry = run_cases(references.at_trace[index], runner(index), tolerance)
            if all(run.passed for run in retry):
                runs, report.specialized_to = retry, dict(exported[index].trace_sizes)
        report.runs.extend(runs)
    decode = references.decode
    if decode is None or not report.passed or report.specialized_to:
        return report
    if references.kind == "decoder":
        report.runs.extend(run_decode(decode, runner(0), tolerance))
    elif references.kind == "generation":
        encoder, decoder = runner(0), runner(1)

        def encode(source, mask):
            return cache.presents_as_past(encoder({"input_ids": source, "attention_mask": mask}), side="encoder")

        def step(source, mask, ids, cross, past):
            return decoder({"decoder_input_ids": ids, "encoder_attention_mask": mask, **cross, **past})

        report.runs.extend(run_seq2seq_decode(decode, step, tolerance, encode))
    else:
        run = runner(0)

        def monolith_step(source, mask, ids, cross, past):
            past_length = next(iter(past.values())).shape[2] if past else 0
            decoder_mask = np.ones((ids.shape[0], past_length + ids.shape[1]), dtype=np.int64)
            feed = {"input_ids": source, "attention_mask": mask, "decoder_input_ids": ids, "decoder_attention_mask": decoder_mask}
            return run({**feed, **cross, **past})

        report.runs.extend(run_seq2seq_decode(decode, monolith_step, tolerance))
    return report


def validate_export(graphs, exported, backend, preprocessor, layout: str, tolerance: Tolerance, sizes=VALIDATION_SIZES) -> ValidationReport:
    """Both phases, for callers that keep the model (the seed's API)."""
    references = compute_references(graphs, exported, backend, preprocessor, layout, tolerance.min_cosine is not None, sizes)
    return check_export(references, exported, backend, tolerance)


def release_weights(module) -> None:
    """Free a model's tensors in place once every reference is computed, so that the export can be loaded without
    the model beside it. The module stays usable for its config; running it is an error."""
    import torch

    for tensor in (*module.parameters(), *module.buffers()):
        tensor.data = torch.empty(0, dtype=tensor.dtype)
