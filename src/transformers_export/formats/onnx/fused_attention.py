"""Attention written as ONNX Runtime's fused `MultiHeadAttention` (com.microsoft), for graphs meant for ONNX Runtime
only: the quantization presets' graphs, which already use its contrib operators.

transformers 5 computes attention with `scaled_dot_product_attention`, which the trace engine writes as a dozen
primitive nodes per layer (MatMul, Softmax, the mask's Where, a NaN guard) that ONNX Runtime's transformer optimizer
does not recognise. While capturing, this registers an attention implementation with transformers' own
`AttentionInterface` whose trace emits one `MultiHeadAttention` node per layer, with the additive mask as its
attention bias. In PyTorch the same function computes SDPA, so a trace's outputs stay what the model computes.

Encoders only (no module of the model is causal). Only plain attention is fused: no softcapping, sinks, sliding
windows or position biases (those fall back to SDPA, one layer at a time), and key/value heads are expanded to the
query heads where they are grouped.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cache
from typing import Iterator

from .attention_switch import attention_implementation

IMPLEMENTATION = "transformers_export_fused"
# keyword arguments that change what attention computes beyond query, key, value, mask and scale
_UNFUSED = ("softcap", "sliding_window", "s_aux", "sinks", "position_bias", "head_mask")


@cache
def _function():
    """The autograd function whose trace is the fused node (built once, on first use: torch is imported lazily)."""
    import torch

    class MultiHeadAttention(torch.autograd.Function):
        @staticmethod
        def forward(ctx, query, key, value, bias, scale: float, heads: int):
            batch, length = query.shape[:2]
            split = lambda states: states.view(batch, states.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
            attended = torch.nn.functional.scaled_dot_product_attention(
                split(query), split(key), split(value), attn_mask=bias, scale=scale
            )
            return attended.transpose(1, 2).reshape(batch, length, -1)

        @staticmethod
        def symbolic(g, query, key, value, bias, scale: float, heads: int):
            from torch.onnx._internal.torchscript_exporter.symbolic_helper import _optional_input_placeholder_tensor

            absent = _optional_input_placeholder_tensor(g)
            inputs = [query, key, value, absent, absent] + ([bias] if bias is not None else [])
            output = g.op("com.microsoft::MultiHeadAttention", *inputs, num_heads_i=heads, scale_f=scale)
            output.setType(query.type())
            return output

    return MultiHeadAttention


def _attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, is_causal=None, **kwargs):
    """transformers' attention signature: states (batch, heads, length, width) in, (batch, length, heads, width) out."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if any(kwargs.get(name) is not None for name in _UNFUSED):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    batch, heads, length, width = query.shape
    if key.shape[1] != heads:  # grouped key/value heads: MultiHeadAttention takes one per query head
        key, value = repeat_kv(key, heads // key.shape[1]), repeat_kv(value, heads // value.shape[1])
    flat = lambda states: states.transpose(1, 2).reshape(batch, states.shape[2], -1)  # noqa: E731
    if attention_mask is not None and attention_mask.dtype == torch.bool:  # a model that builds its own boolean mask
        attention_mask = torch.zeros_like(attention_mask, dtype=query.dtype).masked_fill(
            ~attention_mask, torch.finfo(query.dtype).min
        )
    scale = float(scaling) if scaling is not None else width**-0.5
    attended = _function().apply(flat(query), flat(key), flat(value), attention_mask, scale, int(heads))
    return attended.view(batch, length, heads, -1), None


@contextmanager
def fused_attention(model, enabled: bool = True) -> Iterator[bool]:
    """Capture `model` with fused attention where its modelling code goes through transformers' `AttentionInterface`;
    yields whether it does. The model's own implementation is always put back."""
    previous = getattr(model.config, "_attn_implementation", None)
    # encoders only: decoders keep their measured graphs (a decode step attends one query to the cache)
    causal = any(getattr(module, "is_causal", False) for module in model.modules()) if enabled else False
    if not enabled or causal or not hasattr(model, "set_attn_implementation") or previous in (None, "eager"):
        yield False
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(IMPLEMENTATION, _attention)
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)  # an additive float mask: the node's attention bias
    with attention_implementation(model, IMPLEMENTATION) as switched:
        yield switched
