"""Optimum's ORTModel classes (optimum-onnx, in an environment of their own: they pin transformers < 4.58) load our
default export folders unchanged and compute what PyTorch computes: encoder outputs within 1e-4, greedy tokens equal
(decoders; encoder-decoders exported with `--layout merged`, whose one decoder Optimum runs from an empty past)."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from transformers_export import export_model

PROMPT = [[5, 6, 7, 8, 9, 10]]
# (name, checkpoint model type or "minilm", checkpoint feature, our feature, Optimum's class)
CASES = [
    ("minilm", "minilm", None, "default", "ORTModelForFeatureExtraction"),
    (
        "bert-classifier",
        "bert",
        "sequence-classification",
        "sequence-classification",
        "ORTModelForSequenceClassification",
    ),
    ("llama", "llama", "causal-lm", "causal-lm-with-past", "ORTModelForCausalLM"),
    ("gpt2", "gpt2", "causal-lm", "causal-lm-with-past", "ORTModelForCausalLM"),
    ("qwen2", "qwen2", "causal-lm", "causal-lm-with-past", "ORTModelForCausalLM"),
    ("t5", "t5", "seq2seq-lm", "seq2seq-lm-with-past", "ORTModelForSeq2SeqLM"),
    ("bart", "bart", "seq2seq-lm", "seq2seq-lm-with-past", "ORTModelForSeq2SeqLM"),
    ("mbart", "mbart", "seq2seq-lm", "seq2seq-lm-with-past", "ORTModelForSeq2SeqLM"),
    ("marian", "marian", "seq2seq-lm", "seq2seq-lm-with-past", "ORTModelForSeq2SeqLM"),
    ("pegasus", "pegasus", "seq2seq-lm", "seq2seq-lm-with-past", "ORTModelForSeq2SeqLM"),
    ("whisper", "whisper", None, "speech2seq-lm-with-past", "ORTModelForSpeechSeq2Seq"),
]
LAYOUTS = dict.fromkeys(
    ["t5", "bart", "mbart", "marian", "pegasus", "whisper"], "merged"
)  # Optimum runs encoder-decoders as encoder + merged decoder
GENERATING = {
    "ORTModelForCausalLM": "AutoModelForCausalLM",
    "ORTModelForSeq2SeqLM": "AutoModelForSeq2SeqLM",
    "ORTModelForSpeechSeq2Seq": "WhisperForConditionalGeneration",
}
FEATURES = torch.randn(1, 16, 100, generator=torch.Generator().manual_seed(0))  # the tiny Whisper's one-second window


def _tiny_whisper(folder: Path) -> Path:
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=96, num_mel_bins=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, d_model=32, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=50,
        max_target_positions=48, decoder_start_token_id=81, eos_token_id=80, pad_token_id=80, bos_token_id=80,
        init_std=0.3,  # wide enough that greedy decoding does not repeat one token
    )  # fmt: skip
    torch.manual_seed(0)
    WhisperForConditionalGeneration(config).save_pretrained(folder)
    return folder


NEW_TOKENS = 8
CLIENT = Path(__file__).resolve().parents[1] / "clients" / "optimum_client.py"


@pytest.fixture(scope="module")
def optimum_answers(optimum_python, tiny_checkpoint, minilm_path, tmp_path_factory):
    work = tmp_path_factory.mktemp("optimum")
    requests, checkpoints = [], {}
    for name, model_type, checkpoint_feature, feature, class_name in CASES:
        if model_type in ("minilm", "whisper"):
            checkpoint = minilm_path if model_type == "minilm" else _tiny_whisper(work / "whisper-checkpoint")
        else:
            checkpoint = tiny_checkpoint(model_type, checkpoint_feature)
        export_model(str(checkpoint), work / name, feature=feature, layout=LAYOUTS.get(name))
        checkpoints[name] = checkpoint
        generating = class_name in GENERATING
        source = {"input_features": FEATURES.tolist()} if model_type == "whisper" else {"input_ids": PROMPT}
        requests.append({"class": class_name, "folder": str(work / name), **source,
                         "new_tokens": NEW_TOKENS if generating else 0})  # fmt: skip
    (work / "requests.json").write_text(json.dumps(requests))
    done = subprocess.run(
        [str(optimum_python), str(CLIENT), str(work / "requests.json"), str(work / "answers.json")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads((work / "answers.json").read_text())
    return {case[0]: (answer, checkpoints[case[0]]) for case, answer in zip(CASES, answers)}


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_optimum_ortmodel_runs_our_export(case, optimum_answers):
    import transformers

    name, _, _, feature, class_name = case
    answer, checkpoint = optimum_answers[name]
    assert "error" not in answer, f"Optimum's {class_name} on our {feature} folder: {answer.get('error')}"
    with torch.no_grad():
        if class_name in GENERATING:
            model = getattr(transformers, GENERATING[class_name]).from_pretrained(checkpoint).eval()
            source = FEATURES if name == "whisper" else torch.tensor(PROMPT)
            expected = model.generate(source, max_new_tokens=NEW_TOKENS, do_sample=False)[0].tolist()
            assert answer["tokens"] == expected
            return
        auto = transformers.AutoModel if feature == "default" else transformers.AutoModelForSequenceClassification
        model = auto.from_pretrained(checkpoint).eval()
        expected = model(input_ids=torch.tensor(PROMPT), attention_mask=torch.ones(1, len(PROMPT[0]), dtype=torch.long))
        np.testing.assert_allclose(np.array(answer["output"]), expected[0].numpy(), atol=1e-4)
