"""`generate()` of the exported models takes generate()'s arguments, with the tokens PyTorch's generate() gives."""

import numpy as np
import pytest
import torch
from transformers import GenerationConfig, TextIteratorStreamer, TextStreamer

from transformers_export import export_model

MODELS = [("gpt2", "causal-lm", "causal-lm-with-past"), ("t5", "seq2seq-lm", "seq2seq-lm-with-past")]


@pytest.fixture(scope="module", params=MODELS, ids=[m[0] for m in MODELS])
def pair(request, tiny_checkpoint, tmp_path_factory):
    import transformers

    model_type, base, feature = request.param
    checkpoint = tiny_checkpoint(model_type, base)
    out = tmp_path_factory.mktemp(model_type) / "onnx"
    export_model(str(checkpoint), out, feature=feature)
    from transformers_export.runtime import from_pretrained

    auto = transformers.AutoModelForSeq2SeqLM if base == "seq2seq-lm" else transformers.AutoModelForCausalLM
    return auto.from_pretrained(checkpoint).eval(), from_pretrained(out)


PROMPT = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])


def _plain(torch_model):
    with torch.no_grad():
        return torch_model.generate(PROMPT, do_sample=False, max_new_tokens=12)


ARGUMENTS = [
    dict(),  # transformers 5's defaults: 20 new tokens after the prompt (decoder-only) or the start token (T5)
    dict(num_beams=2),
    dict(generation_config=GenerationConfig(repetition_penalty=1.3)),  # a config without a length: still the default
    dict(max_new_tokens=9),
    dict(max_length=14),
    dict(max_new_tokens=10, min_new_tokens=8),
    dict(max_new_tokens=10, min_length=12),
    dict(max_new_tokens=10, repetition_penalty=1.8),
    dict(max_new_tokens=10, no_repeat_ngram_size=1),
    dict(max_new_tokens=10, num_beams=3, length_penalty=2.0, early_stopping=True),
    dict(max_new_tokens=10, num_beams=4, num_return_sequences=3, early_stopping="never"),
    dict(
        max_new_tokens=10, do_sample=True, top_k=1, temperature=0.5, top_p=0.9, min_p=0.1
    ),  # top_k=1: no randomness left
]


@pytest.mark.parametrize(
    "arguments",
    ARGUMENTS,
    ids=lambda a: "-".join(k if k == "generation_config" else f"{k}={v}" for k, v in a.items()) or "defaults",
)
def test_arguments_give_pytorch_tokens(pair, arguments):
    torch_model, onnx_model = pair
    with torch.no_grad():
        expected = torch_model.generate(PROMPT, **arguments)
    got = onnx_model.generate(PROMPT, **arguments)
    assert isinstance(got, torch.Tensor), "torch in, torch out, as pipelines expect"
    assert got.tolist() == expected.tolist()


def test_end_and_pad_tokens_from_the_call(pair):
    torch_model, onnx_model = pair
    plain = _plain(torch_model)
    start = 1 if torch_model.config.is_encoder_decoder else PROMPT.shape[1]
    arguments = dict(max_new_tokens=12, eos_token_id=int(plain[0, start + 3]), pad_token_id=3)
    with torch.no_grad():
        expected = torch_model.generate(PROMPT, **arguments)
    assert expected.tolist() != plain.tolist(), "the end token must stop a row early, or this proves nothing"
    assert onnx_model.generate(PROMPT, **arguments).tolist() == expected.tolist()


def test_a_generation_config_overrides_the_folders_and_arguments_override_it(pair):
    torch_model, onnx_model = pair
    config = GenerationConfig(num_beams=3, max_new_tokens=7, repetition_penalty=1.5)
    for arguments in (dict(generation_config=config), dict(generation_config=config, num_beams=2)):
        with torch.no_grad():
            expected = torch_model.generate(PROMPT, **arguments)
        assert onnx_model.generate(PROMPT, **arguments).tolist() == expected.tolist()


def test_numpy_in_numpy_out(pair):
    torch_model, onnx_model = pair
    got = onnx_model.generate(PROMPT.numpy(), max_new_tokens=12)
    assert isinstance(got, np.ndarray) and got.tolist() == _plain(torch_model).tolist()


class _Tokenizer:
    """What the streamers need of a tokenizer: decode ids to text (one "word" per id here)."""

    def decode(self, ids, **_):
        return "".join(f"<{int(i)}> " for i in ids)


@pytest.mark.parametrize("streamer_class", [TextStreamer, TextIteratorStreamer])
def test_streamers_get_what_pytorch_gives_them(pair, streamer_class, capsys):
    torch_model, onnx_model = pair

    def stream(model):
        streamer = streamer_class(_Tokenizer())
        tokens = model.generate(PROMPT[:1], max_new_tokens=6, streamer=streamer)
        text = capsys.readouterr().out if streamer_class is TextStreamer else "".join(streamer)
        return tokens.tolist(), text

    with torch.no_grad():
        expected = stream(torch_model)
    assert expected[1], "the streamer must have received text"
    assert stream(onnx_model) == expected


@pytest.mark.parametrize(
    "arguments,message",
    [
        (dict(typical_p=0.5), "cannot honour typical_p=0.5"),
        (dict(num_beam_groups=2, num_beams=2, diversity_penalty=1.0), "cannot honour"),
        (dict(epsilon_cutoff=0.1, do_sample=True), "cannot honour epsilon_cutoff=0.1"),
        (dict(token_type_ids=PROMPT), "cannot honour: 'token_type_ids'"),
        (dict(num_return_sequences=2), "num_return_sequences"),
        (dict(num_beams=2, streamer=object()), "streamer cannot be used with beam search"),
        (dict(generation_config={"num_beams": 2}), "must be a transformers GenerationConfig"),
    ],
)
def test_arguments_it_cannot_honour_are_named(pair, arguments, message):
    _, onnx_model = pair
    with pytest.raises(ValueError, match=message):
        onnx_model.generate(PROMPT, max_new_tokens=3, **arguments)
