"""Stage: run every written graph through its format's backend and compare it with the PyTorch model.

One loop for every format. It runs in two phases so that the model and the exported graph need not be resident
together: first PyTorch computes every reference (the fixed shapes, which are not the trace's, and a real decode
for graphs with a cache); then the backend runs the same inputs, feeding its own cache back at every decode step.

Decode: a left-padded prompt (decoder-only) or a right-padded source (encoder-decoder), starting from an empty
past, then single-token steps that take the reference's greedy token; PyTorch is fed its own cache, the export its
own `present.*` (see `decodes.py`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..cache import names as cache
from .cases import Case, reference_cases, run_cases
from .decodes import (
    DecodeTrace,
    reference_decode,
    reference_seq2seq_decode,
    run_decode,
    run_seq2seq_decode,
)
from ..dummy_inputs.sizes import DEFAULT_SIZES, VALIDATION_SIZES
from ..errors import ExportError
from ..layouts.base import DECODER, ENCODER_DECODER, SEQ2SEQ_GRAPH, Decode, Layout
from .report import ShapeRun, Tolerance, ValidationReport, runtime_message


@dataclass
class References:
    """Everything PyTorch computed for one validation: per graph, the cases at the fixed shapes (and at the traced
    shape, for formats whose traces may be specialised), and the reference decode of the layout."""

    cases: list[list[Case]]
    at_trace: list[list[Case]] | None
    decode: DecodeTrace | None
    planned: Decode | None = None  # which decode the layout asked for, and through which graph


def compute_references(
    graphs, exported, backend, preprocessor, layout: Layout, progress=None, unpadded=False, sizes=VALIDATION_SIZES
) -> References:
    """Phase 1: PyTorch alone. `graphs` are anything with `.module` and `.config`. `progress(forwards, None)` after
    each forward of a graph's module (a large model's references take minutes; the count is not known up front)."""
    with _counted_forwards(graphs, progress):
        return _references(graphs, exported, backend, preprocessor, layout, unpadded, sizes)


@contextmanager
def _counted_forwards(graphs, progress) -> Iterator[None]:
    count = [0]

    def counted(_module, _args, _output):
        count[0] += 1
        progress(count[0], None)

    modules = {id(graph.module): graph.module for graph in graphs}.values() if progress else ()
    handles = [module.register_forward_hook(counted) for module in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _references(graphs, exported, backend, preprocessor, layout: Layout, unpadded, sizes) -> References:
    cases = [
        reference_cases(g.config, g.module, preprocessor, w.path.name, sizes, unpadded)
        for g, w in zip(graphs, exported)
    ]
    at_trace = None
    if backend.may_specialise:
        at_trace = [
            reference_cases(g.config, g.module, preprocessor, w.path.name, [{**DEFAULT_SIZES, **w.trace_sizes}])
            for g, w in zip(graphs, exported)
        ]
    planned = layout.decode(graphs, backend)
    if planned is None:
        return References(cases, at_trace, None)
    graph, name = graphs[planned.graph], exported[planned.graph].path.name
    if planned.kind == ENCODER_DECODER:  # the encoder graph's model runs both graphs
        decode = reference_seq2seq_decode(graph.config.parent, graph.module.model, "encoder + decoder", unpadded)
    elif planned.kind == SEQ2SEQ_GRAPH:
        decode = reference_seq2seq_decode(graph.config, graph.module, name, unpadded)
    else:
        decode = reference_decode(graph.config, graph.module, name, unpadded)
    return References(cases, at_trace, decode, planned)


def check_export(references: References, exported, backend, tolerance: Tolerance, progress=None) -> ValidationReport:
    """Phase 2: the export alone, on the inputs of `references`, feeding its own cache back while decoding.
    `progress(runs_done, runs_total)` after each run."""
    report = ValidationReport(
        atol=tolerance.atol, rtol=tolerance.rtol, artifact=backend.artifact, runtime=backend.runtime
    )
    loaded = []
    for written in exported:
        try:
            loaded.append(backend.load(written))
        except Exception as error:  # each runtime has its own exception types for a graph it cannot load
            if isinstance(error, ExportError):
                raise
            report.runs.append(
                ShapeRun({}, [], [], runtime_error=runtime_message(error), graph=written.path.name)
            )  # no inputs: loading
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
    if references.planned.kind == DECODER:
        report.runs.extend(run_decode(decode, runner(references.planned.graph), tolerance))
    elif references.planned.kind == ENCODER_DECODER:
        encoder, decoder = runner(0), runner(1)

        merged = cache.ENCODER_STATES in exported[1].input_names  # the decoder fills the cross-attention cache

        def encode(source):
            if merged:
                return {cache.ENCODER_STATES: encoder(source)["last_hidden_state"]}
            return cache.presents_as_past(encoder(source), side="encoder")

        def step(source, ids, encoded, past):
            mask = {"encoder_attention_mask": source["attention_mask"]} if "attention_mask" in source else {}
            return decoder({"input_ids" if merged else "decoder_input_ids": ids, **mask, **encoded, **past})

        report.runs.extend(run_seq2seq_decode(decode, step, tolerance, encode, both_caches_grow=merged))
    else:
        run = runner(0)

        def monolith_step(source, ids, cross, past):
            past_length = next(iter(past.values())).shape[2] if past else 0
            decoder_mask = np.ones((ids.shape[0], past_length + ids.shape[1]), dtype=np.int64)
            feed = {**source, "decoder_input_ids": ids, "decoder_attention_mask": decoder_mask}
            return run({**feed, **cross, **past})

        report.runs.extend(run_seq2seq_decode(decode, monolith_step, tolerance))
    return report


def validate_export(
    graphs, exported, backend, preprocessor, layout: Layout, tolerance: Tolerance, sizes=VALIDATION_SIZES
) -> ValidationReport:
    """Both phases, for callers that keep the model (the seed's API)."""
    references = compute_references(
        graphs, exported, backend, preprocessor, layout, unpadded=tolerance.min_cosine is not None, sizes=sizes
    )
    return check_export(references, exported, backend, tolerance)


def release_weights(module) -> None:
    """Free a model's tensors in place once every reference is computed, so that the export can be loaded without
    the model beside it. The module stays usable for its config; running it is an error."""
    import torch

    for tensor in (*module.parameters(), *module.buffers()):
        tensor.data = torch.empty(0, dtype=tensor.dtype)
