"""The attention implementation the trace engine captures, chosen per family (`ArchitectureSpec.traced_attention`).

transformers 5 computes attention with `scaled_dot_product_attention`. The trace engine writes it with a NaN guard
(IsNaN + Where on every layer's output) and the mask's Shape/Gather arithmetic per layer; transformers' eager
attention is the same products and softmax without them. Measured in ONNX Runtime (1 thread, benchmarks/RESULTS.md,
issue #30), the eager graph of a BERT-like encoder takes 0.75-0.85x the SDPA graph's time, numerically the same model.

While tracing, a padding-only mask is built as one additive bias from the 2-D mask (Cast, Sub, Mul), broadcast over
queries, instead of transformers' index arithmetic (Range, Unsqueeze, Gather, And over every query): the same values.

A causal model switches only where its graph takes no mask input (a seq2seq decoder step: its own tokens and the
encoder's mask): with a mask, a left-padded row can mask every key, and there the two implementations differ
(eager averages the values, SDPA's NaN guard zeroes the row). Those rows are padding, but validation compares them,
and a decoder's graph stays what its PyTorch model computes at every position.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .attention_switch import attention_implementation

FROM = "sdpa"  # the implementation replaced; a model that already uses another keeps it


@contextmanager
def traced_attention(graph, implementation: str | None, takes_mask: bool) -> Iterator[bool]:
    """Capture `graph` (a transformers model, or a layout's module around one) with `implementation` in place of
    SDPA; `takes_mask`: the graph has an attention-mask input. Yields whether it switched. Always put back."""
    model = next((module for module in graph.modules() if hasattr(module, "set_attn_implementation")), None)
    previous = getattr(getattr(model, "config", None), "_attn_implementation", None)
    causal = any(getattr(module, "is_causal", False) for module in graph.modules())
    switch = implementation is not None and previous == FROM and not (causal and takes_mask)
    if not switch:
        yield False
        return
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    mask_before = ALL_MASK_ATTENTION_FUNCTIONS[implementation] if implementation == "eager" else None
    try:
        if mask_before is not None:
            ALL_MASK_ATTENTION_FUNCTIONS.register("eager", _padding_bias(mask_before))
        with attention_implementation(model, implementation) as switched:
            yield switched
    finally:
        if mask_before is not None:
            ALL_MASK_ATTENTION_FUNCTIONS.register("eager", mask_before)


def _padding_bias(eager_mask):
    """transformers' eager mask function, except for a bidirectional mask over a 2-D padding mask: there the additive
    bias `(batch, 1, 1, keys)`, which eager attention broadcasts over heads and queries."""
    import torch
    from transformers.masking_utils import bidirectional_mask_function, prepare_padding_mask

    def mask(
        batch_size,
        q_length,
        kv_length,
        q_offset=0,
        kv_offset=0,
        mask_function=None,
        attention_mask=None,
        dtype=torch.float32,
        **kwargs,
    ):
        if mask_function is not bidirectional_mask_function or attention_mask is None or attention_mask.dim() != 2:
            return eager_mask(
                batch_size,
                q_length,
                kv_length,
                q_offset,
                kv_offset,
                mask_function=mask_function,
                attention_mask=attention_mask,
                dtype=dtype,
                **kwargs,
            )
        padding = prepare_padding_mask(attention_mask, kv_length, kv_offset)[:, kv_offset : kv_offset + kv_length]
        return (1.0 - padding[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

    return mask
