"""Reference decodes: PyTorch fed its own cache (a `DecodeTrace`), replayed on an export that feeds its own
`present.*` back (`run_decode`, `run_seq2seq_decode`). A decoder decodes a left-padded prompt; an encoder-decoder a
right-padded source, from an empty past.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..cache import names as cache, objects as cache_objects
from ..dummy_inputs.sizes import VALIDATION_SIZES
from ..formats.exportable import named_outputs
from .padding import decoder_padding
from ..runtime.decoder import position_ids_from_mask
from .report import ShapeRun, Tolerance, compare, runtime_message

from .cases import Case, numpy_dtype, numpy_tensors, run_cases

DECODE_BATCH, DECODE_PROMPT, DECODE_STEPS = 3, 6, 3


@dataclass
class DecodeTrace:
    """A reference decode: per step, the new tokens, the mask, PyTorch's outputs (and, encoder-decoder, the source)."""

    steps: list[Case] = field(default_factory=list)
    source: dict[str, np.ndarray] = field(default_factory=dict)  # the encoder's inputs


# --- decoder-only decode ------------------------------------------------------------------------------------------


def _decoder_feed(ids, mask, past) -> dict:
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "position_ids": position_ids_from_mask(mask, ids.shape[1]),
        **past,
    }


def reference_decode(config, model, graph: str, unpadded=False) -> DecodeTrace:
    import torch

    text = model.config.get_text_config()  # a composite model's language model
    vocab = getattr(text, "vocab_size", 2)
    pad = getattr(text, "pad_token_id", None) or 0
    pad = pad if pad < vocab else 0
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, (DECODE_BATCH, DECODE_PROMPT))
    mask = np.ones_like(ids)
    for row, padding in enumerate(() if unpadded else (2, 1)):
        mask[row, :padding] = 0
    ids[mask == 0] = pad
    dtype = getattr(config, "_float_dtype", None)
    past = cache.empty_past(cache.past_dims(config.layer_shapes()), DECODE_BATCH, numpy_dtype(dtype))
    trace = DecodeTrace()
    # a decoder over embeddings (the vision-language layout's) is fed the model's embeddings of the same tokens
    embed = model.model.get_input_embeddings() if "inputs_embeds" in config.inputs else None
    # a graph with recurrent state takes the prompt one token at a time, then one generated token per step
    fed = 1 if getattr(config, "one_token_steps", False) else DECODE_PROMPT
    prompt_ids, prompt_mask = ids, mask
    ids, mask = prompt_ids[:, :fed], prompt_mask[:, :fed]
    for step in range(DECODE_STEPS + 1 + DECODE_PROMPT - fed):
        feed = _decoder_feed(ids, mask, past)
        if 2 in config.inputs.get("position_ids", {}):  # (time, height, width) rotary positions: text ones
            feed["position_ids"] = np.broadcast_to(feed["position_ids"], (3, *feed["position_ids"].shape)).copy()
        if (
            "token_type_ids" in config.inputs
        ):  # the prompt's tokens one type (PaliGemma's prefix), generated ones the other
            feed["token_type_ids"] = np.broadcast_to(np.arange(mask.shape[1]) >= DECODE_PROMPT, mask.shape).astype(
                np.int64
            )
        if embed is not None:
            with torch.no_grad():
                feed["inputs_embeds"] = embed(torch.from_numpy(ids)).numpy()
        inputs = {name: torch.from_numpy(value) for name, value in feed.items() if name in config.inputs}
        inputs = {name: t.to(dtype) if dtype and t.is_floating_point() else t for name, t in inputs.items()}
        with torch.no_grad(), config.patched(model):
            output = model(**config.model_inputs(inputs, model), return_dict=True)
            reference = numpy_tensors(named_outputs(output, list(config.outputs), config))
        sizes = {
            "step": step,
            "batch": DECODE_BATCH,
            "sequence": ids.shape[1],
            "past_sequence": mask.shape[1] - ids.shape[1],
        }
        trace.steps.append(
            Case(
                sizes,
                {
                    name: feed[name]
                    for name in ("input_ids", "attention_mask", "inputs_embeds", "token_type_ids", "position_ids")
                    if name in feed
                },
                reference,
                graph,
            )
        )
        past = cache.presents_as_past(reference)
        if mask.shape[1] < DECODE_PROMPT:  # the prompt's next token
            ids, mask = prompt_ids[:, mask.shape[1] : mask.shape[1] + 1], prompt_mask[:, : mask.shape[1] + 1]
            continue
        if "logits" in reference:
            ids = reference["logits"][:, -1].argmax(-1)[:, None]
        else:
            ids = rng.integers(0, vocab, (DECODE_BATCH, 1))
        mask = np.concatenate([mask, np.ones((DECODE_BATCH, 1), dtype=mask.dtype)], axis=1)
    return trace


def run_decode(trace: DecodeTrace, run, tolerance: Tolerance) -> list[ShapeRun]:
    """Steps of a decoder-only graph fed its own presents; padded positions are not compared (`padding.py`)."""
    runs, past = [], None
    for case in trace.steps:
        if past is None:  # the first step's past is empty: take its shapes from the reference's presents
            past = cache.initial_past(case.reference)
        feed = {**_decoder_feed(case.feed["input_ids"], case.feed["attention_mask"], past), **case.feed}
        padding = decoder_padding(case.reference, case.feed["attention_mask"])
        shape_runs = run_cases([Case(case.sizes, feed, case.reference, case.graph, padding)], run, tolerance)
        runs.extend(shape_runs)
        if not shape_runs[-1].passed:
            break
        past = cache.presents_as_past(shape_runs[-1].actual)
    return runs


# --- encoder-decoder decode ---------------------------------------------------------------------------------------


def reference_seq2seq_decode(config, model, graph: str, unpadded=False) -> DecodeTrace:
    """Batch 3 with a right-padded source (or the encoder's own inputs: log-mel features, a waveform), the decoder
    from its start token with an empty past."""
    import torch

    vocab = getattr(model.config, "vocab_size", 4)
    rng = np.random.default_rng(0)
    source = _seq2seq_source(config, model, rng, unpadded)
    with torch.no_grad(), config.patched(model):
        encoder_outputs = model.get_encoder()(
            **{name: torch.from_numpy(value) for name, value in source.items()}, return_dict=True
        )
    mask = {"attention_mask": torch.from_numpy(source["attention_mask"])} if "attention_mask" in source else {}
    past_cache = cache_objects.empty_encoder_decoder_cache()
    step_ids = np.full((DECODE_BATCH, 1), cache_objects.decoder_start_token_id(model), dtype=np.int64)
    trace = DecodeTrace(source=source)
    for step in range(DECODE_STEPS + 1):
        with torch.no_grad(), config.patched(model):
            output = model(
                encoder_outputs=encoder_outputs,
                **mask,
                decoder_input_ids=torch.from_numpy(step_ids),
                use_cache=True,
                return_dict=True,
                **{cache_objects.cache_argument(model): past_cache},
            )
        main = next(name for name in ("logits", "last_hidden_state") if output.get(name) is not None)
        reference = {
            main: output[main].numpy(),
            **numpy_tensors(
                cache.flatten(cache.PRESENT, cache_objects.layer_tensors(cache_objects.model_cache(output)))
            ),
        }
        sizes = {"step": step, "batch": DECODE_BATCH, "past_decoder_sequence": step}
        trace.steps.append(Case(sizes, {"decoder_input_ids": step_ids}, reference, graph))
        step_ids = (
            reference[main][:, -1].argmax(-1)[:, None]
            if main == "logits"
            else rng.integers(3, vocab, (DECODE_BATCH, 1))
        )
    return trace


def _seq2seq_source(config, model, rng, unpadded) -> dict[str, np.ndarray]:
    """The encoder's inputs for a reference decode: token ids with the first row padded, or (an encoder that reads
    audio) the dummy inputs of its inputs at the decode batch."""
    from ..dummy_inputs.specs import make_dummy_inputs

    encoder_inputs = {
        name: axes
        for name, axes in config.inputs.items()
        if not name.startswith("decoder_") and not cache.is_past(name)
    }
    if "input_ids" not in encoder_inputs:
        return numpy_tensors(
            make_dummy_inputs(encoder_inputs, model.config, {**VALIDATION_SIZES[0], "batch": DECODE_BATCH})
        )
    source = rng.integers(3, getattr(model.config, "vocab_size", 4), (DECODE_BATCH, DECODE_PROMPT + 1))
    mask = np.ones_like(source)
    if not unpadded:
        mask[0, -2:] = 0
    source[mask == 0] = getattr(model.config, "pad_token_id", None) or 0
    return {"input_ids": source, "attention_mask": mask}


def run_seq2seq_decode(
    trace: DecodeTrace, run_step, tolerance: Tolerance, encode=None, both_caches_grow=False
) -> list[ShapeRun]:
    """`run_step(source, decoder_input_ids, encoded, past)` runs one exported step (`source`: the encoder's inputs);
    `encode(source)` gives what every step takes from the encoder (without it, PyTorch's cross-attention cache is used:
    the seed's single graph cannot compute it). With `both_caches_grow` (the merged decoder), both caches start empty
    and the step returns both; otherwise only the self-attention cache does."""
    runs, past = [], None
    side = None if both_caches_grow else "decoder"
    cross = encode(trace.source) if encode else None
    for case in trace.steps:
        if cross is None:
            cross = cache.presents_as_past(case.reference, side="encoder")
        if past is None:
            past = {name: value[:, :, :0] for name, value in cache.presents_as_past(case.reference, side=side).items()}
        # only what the graph returns is compared: the generation decoder does not return the cross-attention cache
        shape_run = ShapeRun(case.sizes, list(case.reference), [], graph=case.graph)
        runs.append(shape_run)
        try:
            actual = run_step(trace.source, case.feed["decoder_input_ids"], cross, past)
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
        past = cache.presents_as_past(actual, side=side)
    return runs
