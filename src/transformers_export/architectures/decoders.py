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
)
