"""BERT-like encoders: text in, hidden states or a task head out."""

from .registry import ArchitectureSpec, declare, register

TEXT = ("input_ids", "attention_mask")
TEXT_WITH_TYPES = (*TEXT, "token_type_ids")
ENCODER_TASKS = (
    "default",
    "masked-lm",
    "causal-lm",
    # the LM head as a decoder (`is_decoder`, as BertGeneration-style checkpoints set it): causal, with a cache
    "causal-lm-with-past",
    "sequence-classification",
    "multiple-choice",
    "token-classification",
    "question-answering",
)


XLM_CACHE = "XLM's LM head keeps its cache in a dict of its own (lengths in Python), not a transformers Cache"


def encoder(model_type: str, name: str, inputs=TEXT, **deviations) -> ArchitectureSpec:
    # eager attention: 0.75-0.85x the SDPA graph's ONNX Runtime latency (benchmarks/RESULTS.md, issue #30)
    deviations.setdefault("traced_attention", "eager")
    return declare(model_type, name, inputs, ENCODER_TASKS, past_inputs=("position_ids",), **deviations)


register(
    encoder("albert", "Albert", TEXT_WITH_TYPES, display="ALBERT"),
    encoder("bert", "Bert", TEXT_WITH_TYPES, display="BERT"),
    # Block-sparse attention picks its code path from the sequence length in Python, so a trace would freeze
    # whichever path the dummy input took; full attention is exact for every length.
    encoder("big_bird", "BigBird", config_overrides={"attention_type": "original_full"}),
    encoder("camembert", "Camembert", display="CamemBERT"),
    encoder("convbert", "ConvBert", TEXT_WITH_TYPES, display="ConvBERT"),
    encoder("data2vec-text", "Data2VecText"),
    encoder("distilbert", "DistilBert", display="DistilBERT"),
    encoder("electra", "Electra", TEXT_WITH_TYPES, display="ELECTRA"),
    encoder("flaubert", "Flaubert", display="FlauBERT", unsupported={"causal-lm-with-past": XLM_CACHE}),
    encoder("ibert", "IBert", display="I-BERT"),
    encoder("layoutlm", "LayoutLM", ("input_ids", "bbox", "attention_mask", "token_type_ids")),
    encoder("mobilebert", "MobileBert", TEXT_WITH_TYPES, display="MobileBERT"),
    encoder("roberta", "Roberta", display="RoBERTa"),
    encoder("roformer", "RoFormer", TEXT_WITH_TYPES),
    encoder("squeezebert", "SqueezeBert", TEXT_WITH_TYPES, display="SqueezeBERT"),
    encoder("xlm", "XLM", TEXT_WITH_TYPES, unsupported={"causal-lm-with-past": XLM_CACHE}),
    encoder("xlm-roberta", "XLMRoberta", display="XLM-RoBERTa"),
    encoder("xlm-roberta-xl", "XLMRobertaXL", display="XLM-RoBERTa-XL"),
    encoder("deberta", "Deberta", TEXT_WITH_TYPES, display="DeBERTa"),
    encoder("deberta-v2", "DebertaV2", TEXT_WITH_TYPES, display="DeBERTa-v2"),
    encoder("mpnet", "MPNet"),
    encoder("modernbert", "ModernBert", display="ModernBERT"),
    encoder(
        "longformer",
        "Longformer",
        (*TEXT, "global_attention_mask"),
        atol=1e-4,
        unsupported=dict.fromkeys(
            ENCODER_TASKS,
            "sliding-window attention: Unfold with dynamic sizes (trace engine), data-dependent global-attention "
            "count (dynamo engine)",
        ),
    ),
    encoder("rembert", "RemBert", TEXT_WITH_TYPES, display="RemBERT", atol=1e-4),
)
