"""Decoder-only language models, with a key/value cache for the `-with-past` features."""

from .registry import ArchitectureSpec, declare, register

DECODER_TASKS = (
    "default",
    "default-with-past",
    "causal-lm",
    "causal-lm-with-past",
    "sequence-classification",
    "token-classification",
    "question-answering",
)
# Position ids are an input so that left-padded batches get the positions generate() gives them.
WITH_POSITIONS = ("input_ids", "attention_mask", "position_ids")
# ALiBi models derive positions from the attention mask.
WITHOUT_POSITIONS = ("input_ids", "attention_mask")


def _bloom_gelu(self, x):
    from transformers.models.bloom.modeling_bloom import bloom_gelu_forward

    return bloom_gelu_forward(x)


def _rotation_pairs(self, x, position_ids):
    """The rotary embedding as (cos, sin) pairs in a trailing axis instead of `torch.polar`'s complex numbers, which
    ONNX has no type for."""
    import torch

    angles = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
    return torch.stack((angles.cos(), angles.sin()), dim=-1) * self.attention_scaling


def _rotate(x, rotation):
    """`x` times the complex rotation, written out on (real, imaginary) pairs of its last axis."""
    import torch

    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    real, imaginary, cos, sin = pairs[..., 0], pairs[..., 1], rotation[..., 0], rotation[..., 1]
    return torch.stack((real * cos - imaginary * sin, real * sin + imaginary * cos), dim=-1).flatten(-2).type_as(x)


def _rotate_heads_first(xq, xk, rotation):  # queries (batch, heads, sequence, width), as DeepSeek-V2 lays them out
    return _rotate(xq, rotation.unsqueeze(1)), _rotate(xk, rotation.unsqueeze(1))


def _rotate_heads_second(xq, xk, rotation):  # queries (batch, sequence, heads, width), as Llama 4 lays them out
    return _rotate(xq, rotation[:, :, None]), _rotate(xk, rotation[:, :, None])


def complex_rotary(module: str, rotary_class: str, apply_rotary) -> tuple:
    """Patches for a model that rotates with complex numbers: its rotary embedding and the function applying it."""
    return ((f"{module}:{rotary_class}", "forward", _rotation_pairs), (f"{module}:", "apply_rotary_emb", apply_rotary))


def decoder(model_type: str, name: str, inputs=WITH_POSITIONS, **deviations) -> ArchitectureSpec:
    return declare(model_type, name, inputs, DECODER_TASKS, **deviations)


register(
    decoder("gpt2", "GPT2", display="GPT-2"),
    decoder("gpt_neo", "GPTNeo", display="GPT Neo"),
    decoder("gptj", "GPTJ", display="GPT-J"),
    decoder("codegen", "CodeGen"),
    # BLOOM's GELU is a custom autograd Function, which torch.jit.trace cannot record; the same tanh formula as a
    # plain function traces everywhere.
    decoder(
        "bloom",
        "Bloom",
        WITHOUT_POSITIONS,
        atol=1e-4,
        patches=(("transformers.models.bloom.modeling_bloom:BloomGelu", "forward", _bloom_gelu),),
    ),
    decoder("llama", "Llama"),
    decoder("mistral", "Mistral"),
    decoder("qwen2", "Qwen2"),
    decoder("qwen3", "Qwen3"),
    decoder("phi", "Phi"),
    decoder("phi3", "Phi3", display="Phi-3"),
    decoder("gemma", "Gemma"),
    decoder("gemma2", "Gemma2", display="Gemma 2"),
    decoder("gpt_neox", "GPTNeoX", display="GPT-NeoX"),
    decoder("opt", "OPT"),
    decoder("falcon", "Falcon"),
    decoder("stablelm", "StableLm", display="StableLM"),
    decoder("granite", "Granite"),
    decoder("olmo", "Olmo", display="OLMo"),
    decoder("smollm3", "SmolLM3"),
    decoder(
        "deepseek_v2",
        "DeepseekV2",
        display="DeepSeek-V2",
        patches=complex_rotary(
            "transformers.models.deepseek_v2.modeling_deepseek_v2",
            "DeepseekV2RotaryEmbedding",
            _rotate_heads_first,
        ),
    ),
    decoder(
        "llama4_text",
        "Llama4Text",
        display="Llama 4 (text)",
        patches=complex_rotary(
            "transformers.models.llama4.modeling_llama4",
            "Llama4TextRotaryEmbedding",
            _rotate_heads_second,
        ),
    ),
)
