"""Encoder-decoder models. `-with-past` features export the generation layout (an encoder file and a decoder file
with a KV cache) unless the seed's single graph is asked for; the others export the single graph. `causal-lm` is the
decoder-only head some of these types have (BartForCausalLM): it exports like any decoder."""

from .registry import ArchitectureSpec, declare, register

SEQ2SEQ_TASKS = (
    "default",
    "default-with-past",
    "seq2seq-lm",
    "seq2seq-lm-with-past",
    "causal-lm",
    "causal-lm-with-past",
    "sequence-classification",
    "question-answering",
)
SEQ2SEQ_INPUTS = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask")


def seq2seq(model_type: str, name: str, **deviations) -> ArchitectureSpec:
    # eager attention: the decoder step graph 0.85x (BART) of the SDPA graph's latency (benchmarks/RESULTS.md, #30)
    deviations.setdefault("traced_attention", "eager")
    return declare(model_type, name, SEQ2SEQ_INPUTS, SEQ2SEQ_TASKS, **deviations)


register(
    seq2seq("t5", "T5"),
    seq2seq("mt5", "MT5", atol=5e-4),
    seq2seq("longt5", "LongT5"),
    seq2seq("bart", "Bart", display="BART (and TAPEX)", atol=1e-4),
    seq2seq("mbart", "MBart", display="mBART", atol=1e-4),
    seq2seq("marian", "Marian", atol=1e-4),
    seq2seq("m2m_100", "M2M100"),
    seq2seq("blenderbot", "Blenderbot", atol=1e-4),
    seq2seq("blenderbot-small", "BlenderbotSmall", atol=1e-4),
    seq2seq("plbart", "PLBart", atol=1e-4),
    seq2seq("pegasus", "Pegasus", atol=1e-4),
    seq2seq("bigbird_pegasus", "BigBirdPegasus", atol=1e-4),
    seq2seq("mvp", "Mvp", display="MVP", atol=1e-4),
    seq2seq("umt5", "UMT5"),
    seq2seq("pegasus_x", "PegasusX", display="PEGASUS-X", atol=1e-4),
)
