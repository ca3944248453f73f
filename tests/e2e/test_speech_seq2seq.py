"""Whisper as a speech encoder-decoder: the generation layout (an encoder over log-mel features, a decoder with a
cache), validated on decode steps, and transcription through the runtime with the tokens of PyTorch's generate()
(language detection, language and task tokens, suppressed tokens, beams, Whisper's output trimming)."""

import json
import warnings

import numpy as np
import pytest
import torch

from transformers_export import export_model
from transformers_export.runtime import OnnxModelForSpeechSeq2Seq, from_pretrained

END = 6  # the generation config's end token: a token this random model does produce, so rows end at different steps


def _tiny_whisper(folder):
    """Whisper's token layout in a vocabulary of 96 (text, end, start, three languages, tasks, no-timestamps, then
    timestamps), a one-second window (100 frames of 16 mel bins), and a generation config like the released ones."""
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=96,
        num_mel_bins=16,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        d_model=32,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=50,
        max_target_positions=48,
        decoder_start_token_id=81,
        eos_token_id=80,
        pad_token_id=80,
        bos_token_id=80,
        init_std=0.3,  # wide enough that greedy decoding does not repeat one token
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=81,
        eos_token_id=END,
        pad_token_id=END,
        bos_token_id=END,
        max_length=48,
        lang_to_id={"<|en|>": 82, "<|fr|>": 83, "<|de|>": 84},
        task_to_id={"translate": 85, "transcribe": 86},
        no_timestamps_token_id=89,
        suppress_tokens=[1, 2],
        begin_suppress_tokens=[5, 80],
        forced_decoder_ids=[[1, None], [2, 86]],
        is_multilingual=True,
        return_timestamps=False,
    )
    model.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=16, chunk_length=1).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    folder = _tiny_whisper(tmp_path_factory.mktemp("whisper"))
    out = tmp_path_factory.mktemp("whisper-onnx") / "out"
    result = export_model(str(folder), out, feature="speech2seq-lm-with-past")
    return folder, out, result


@pytest.fixture(scope="module")
def features(whisper):
    """Log-mel features of synthesized audio: a tone, a modulated tone, and 0.75 s of noise (padded by the
    feature extractor to the window)."""
    from transformers import WhisperFeatureExtractor

    t = np.arange(16000) / 16000
    waves = [
        0.5 * np.sin(2 * np.pi * 440 * t),
        np.sin(2 * np.pi * 200 * t) * np.sin(2 * np.pi * 3 * t),
        0.1 * np.random.default_rng(0).standard_normal(12000),
    ]
    extractor = WhisperFeatureExtractor.from_pretrained(whisper[0])
    return extractor([w.astype(np.float32) for w in waves], sampling_rate=16000, return_tensors="pt").input_features


def test_export_is_the_generation_layout_over_log_mel_features(whisper):
    _, out, result = whisper
    assert result.validation.passed
    assert any("step" in run.sizes for run in result.validation.runs), "decode steps were validated"
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["layout"] == "generation"
    encoder, decoder = manifest["graphs"]["encoder_model.onnx"], manifest["graphs"]["decoder_model.onnx"]
    assert list(encoder["inputs"]) == ["input_features"]
    assert encoder["inputs"]["input_features"]["axes"] == {"0": "batch"}  # 16 bins x 100 frames: Whisper's fixed window
    assert "encoder_attention_mask" not in decoder["inputs"]  # Whisper's cross-attention takes no mask


CALLS = [
    {"max_new_tokens": 12},
    {},  # up to the generation config's max_length, the language detected per row
    {"language": "fr"},
    {"language": ["english", "de", "fr"], "task": "translate"},
    {"num_beams": 3, "max_new_tokens": 10},
    {"task": "transcribe", "num_beams": 2},
    {"return_timestamps": True, "language": "en"},  # Whisper's timestamp grammar, tokens between the text
    {"return_timestamps": True, "num_beams": 2, "max_new_tokens": 16},
]


@pytest.mark.parametrize("arguments", CALLS, ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()) or "defaults")
def test_transcription_tokens_equal_pytorch_generate(whisper, features, arguments):
    from transformers import WhisperForConditionalGeneration

    folder, out, _ = whisper
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        expected = model.generate(features, **arguments)
    onnx = from_pretrained(out)
    assert isinstance(onnx, OnnxModelForSpeechSeq2Seq)
    got = onnx.generate(features, **arguments)
    assert isinstance(got, torch.Tensor)
    assert got.tolist() == expected.tolist()


def test_rows_end_and_are_padded_as_whisper_returns_them(whisper, features):
    """The first row ends early: its end token is trimmed and the row padded, as Whisper's generate() does."""
    got = from_pretrained(whisper[1]).generate(features.numpy(), max_new_tokens=12)
    assert isinstance(got, np.ndarray)
    first = got[0].tolist()
    assert END in first and first.index(END) < 11 and set(first[first.index(END) :]) == {END}
    assert END not in got[1].tolist()


def test_forward_logits_equal_pytorch(whisper, features):
    from transformers import WhisperForConditionalGeneration

    folder, out, _ = whisper
    decoder_ids = torch.tensor([[81, 82, 86, 89, 40, 41]] * 3)
    with torch.no_grad():
        expected = (
            WhisperForConditionalGeneration.from_pretrained(folder)
            .eval()(input_features=features, decoder_input_ids=decoder_ids)
            .logits
        )
    got = from_pretrained(out)(input_features=features, decoder_input_ids=decoder_ids).logits
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda m, f: m.generate(f[:, :, :60]), r"input_features must have shape \(batch, 16, 100\)"),
        (lambda m, f: m.generate(f, language="klingon"), "unsupported language 'klingon'"),
        (lambda m, f: m.generate(f, task="summarize"), "unsupported task 'summarize'"),
        (lambda m, f: m.generate(f, language=["en"]), "language has 1 entries for a batch of 3"),
        (lambda m, f: m.generate(None), "needs input_features"),
    ],
)
def test_wrong_calls_are_clear_errors(whisper, features, call, message):
    with pytest.raises(ValueError, match=message):
        call(from_pretrained(whisper[1]), features)


def test_the_folder_generation_config_raises_no_warning(whisper):
    """Whisper's prompt entries (lang_to_id, task_to_id, forced_decoder_ids, ...) are applied, so not warned about."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_pretrained(whisper[1])


def _audio(model_type):
    generator = torch.Generator().manual_seed(0)
    if model_type == "speech_to_text":  # filter banks of 40 frames, two rows padded
        mask = torch.tensor([[1] * 40, [1] * 30 + [0] * 10, [1] * 25 + [0] * 15])
        return {"input_features": torch.randn(3, 40, 16, generator=generator), "attention_mask": mask}
    return {"input_values": torch.randn(3, 4000, generator=generator)}  # Moonshine: a quarter second of waveform


@pytest.mark.parametrize("model_type", ["speech_to_text", "moonshine"])
@pytest.mark.parametrize("beams", [1, 3])
def test_other_speech_encoder_decoders_generate_pytorch_tokens(model_type, beams, tiny_checkpoint, tmp_path):
    """Speech2Text (filter banks of any length, a mask over frames) and Moonshine (the waveform) through the same
    layout and runtime class, with generate()'s usual output (the start token first)."""
    from transformers import AutoModelForSpeechSeq2Seq

    folder = tiny_checkpoint(model_type, "speech2seq-lm-with-past")
    result = export_model(str(folder), tmp_path / "out", feature="speech2seq-lm-with-past")
    assert result.validation.passed
    audio = _audio(model_type)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        expected = (
            AutoModelForSpeechSeq2Seq.from_pretrained(folder)
            .eval()
            .generate(**audio, max_new_tokens=8, num_beams=beams)
        )
    assert (
        from_pretrained(tmp_path / "out").generate(**audio, max_new_tokens=8, num_beams=beams).tolist()
        == expected.tolist()
    )


def test_speech_to_text_validates_frames_other_than_the_trace(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint("speech_to_text", "speech2seq-lm-with-past")
    result = export_model(str(folder), tmp_path / "out", feature="speech2seq-lm-with-past")
    frames = {run.sizes.get("feature_frames") for run in result.validation.runs}
    assert {40, 16} <= frames  # traced at 24


def test_whisper_audio_classification_is_the_encoder_alone(tiny_checkpoint, tmp_path):
    from transformers import WhisperForAudioClassification

    folder = tiny_checkpoint("whisper", "audio-classification")
    result = export_model(str(folder), tmp_path / "out", feature="audio-classification")
    assert result.validation.passed
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert list(manifest["graphs"]["model.onnx"]["inputs"]) == ["input_features"]
    features = torch.randn(2, 16, 60, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = WhisperForAudioClassification.from_pretrained(folder).eval()(input_features=features).logits
    np.testing.assert_allclose(
        from_pretrained(tmp_path / "out")(input_features=features).logits.numpy(), expected.numpy(), atol=1e-5
    )


def test_the_single_graph_with_a_cache_is_refused_for_speech(tiny_checkpoint, tmp_path):
    from transformers_export.errors import InvalidArgumentError

    folder = tiny_checkpoint("speech_to_text", "speech2seq-lm-with-past")
    with pytest.raises(InvalidArgumentError, match="exports the generation layout only"):
        export_model(str(folder), tmp_path / "out", feature="speech2seq-lm-with-past", layout="monolith")
    assert not (tmp_path / "out").exists()


def test_a_generation_config_without_return_timestamps_transcribes(whisper, features, tmp_path):
    """A Whisper built from a config has no `return_timestamps` in its generation config: it means no timestamps,
    as in transformers' generate()."""
    import shutil

    _, out, _ = whisper
    shutil.copytree(out, tmp_path / "copy")
    path = tmp_path / "copy" / "generation_config.json"
    config = json.loads(path.read_text())
    del config["return_timestamps"]
    path.write_text(json.dumps(config))
    expected = from_pretrained(out).generate(features, max_new_tokens=8)
    assert np.array_equal(from_pretrained(tmp_path / "copy").generate(features, max_new_tokens=8), expected)
