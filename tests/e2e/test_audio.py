"""Speech encoders that read the waveform (wav2vec2 and kin): exported with the audio length dynamic, validated at
lengths other than the trace's, and run by the runtime's audio classes like the PyTorch heads."""

import json

import numpy as np
import pytest
import torch

from transformers_export import export_model
from transformers_export.runtime import from_pretrained

CASES = [
    ("wav2vec2", "ctc"),
    ("wav2vec2", "audio-frame-classification"),
    ("hubert", "audio-classification"),
    ("wavlm", "ctc"),
    ("data2vec-audio", "default"),
    ("sew", "ctc"),
    ("unispeech", "audio-classification"),
    ("unispeech-sat", "ctc"),  # no registry entry: the generic path
]


@pytest.mark.parametrize("model_type,feature", CASES)
def test_speech_encoder_exports_with_a_dynamic_audio_length(model_type, feature, tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(model_type, feature)
    result = export_model(str(folder), tmp_path / "out", feature=feature)
    assert result.validation.passed
    traced = {run.sizes.get("samples") for run in result.validation.runs}
    assert {2240, 1040} <= traced, "validated at lengths other than the traced 1920"
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    graph = manifest["graphs"]["model.onnx"]
    assert graph["inputs"]["input_values"]["axes"] == {"0": "batch", "1": "samples"}
    assert manifest["architecture"] == ("generic" if model_type == "unispeech-sat" else manifest["architecture"])


def test_ctc_runtime_class_matches_pytorch_at_a_new_length(tiny_checkpoint, tmp_path):
    from transformers import AutoModelForCTC

    folder = tiny_checkpoint("wav2vec2", "ctc")
    export_model(str(folder), tmp_path / "out", feature="automatic-speech-recognition")
    model = from_pretrained(tmp_path / "out")
    assert type(model).__name__ == "OnnxModelForCTC"
    waveform = np.random.default_rng(0).normal(size=(2, 3000)).astype(np.float32)
    with torch.no_grad():
        expected = AutoModelForCTC.from_pretrained(folder).eval()(input_values=torch.from_numpy(waveform)).logits.numpy()
    got = model(input_values=waveform).logits
    assert got.shape == expected.shape and got.shape[1] == 37  # frames: 3000 samples through kernels 10/4/4, strides 5/4/4
    np.testing.assert_allclose(got, expected, atol=1e-4)


def _processor_files(folder):
    """A tiny character vocabulary and wav2vec2's feature extractor, saved beside the checkpoint."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: i + 5 for i, c in enumerate("abcdefghijklmno")}}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    Wav2Vec2CTCTokenizer(str(folder / "vocab.json")).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True, return_attention_mask=False).save_pretrained(folder)


@pytest.mark.parametrize("task,feature", [("automatic-speech-recognition", "ctc"), ("audio-classification", "audio-classification")])
def test_speech_pipelines_on_an_export_equal_pytorch(task, feature, tiny_checkpoint, tmp_path):
    import shutil

    from transformers import AutoFeatureExtractor, AutoTokenizer, pipeline

    from transformers_export.tasks import auto_class, get_task

    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint("wav2vec2", feature), folder)
    _processor_files(folder)
    export_model(str(folder), tmp_path / "out", feature=feature)
    audio = np.random.default_rng(1).normal(size=16000).astype(np.float32) * 0.1
    parts = {"feature_extractor": AutoFeatureExtractor.from_pretrained(tmp_path / "out")}
    if task == "automatic-speech-recognition":
        parts["tokenizer"] = AutoTokenizer.from_pretrained(tmp_path / "out")
    got = pipeline(task, model=from_pretrained(tmp_path / "out"), **parts)(audio)
    expected = pipeline(task, model=auto_class(get_task(feature)).from_pretrained(folder), **parts)(audio)
    if task == "automatic-speech-recognition":
        assert got == expected and got["text"]
    else:
        assert [r["label"] for r in got] == [r["label"] for r in expected]
        np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], atol=1e-4)


def test_sew_with_its_default_feature_encoder_is_right_at_both_frame_parities(tmp_path):
    """SEW pads its pooled-then-upsampled states back to the input length only for odd frame counts: traced at an
    even count, that padding would be frozen away and odd counts would lose a frame. Its default feature encoder
    (320 samples a frame) is traced at 1920 samples (5 frames) and validated at 2240 (6) and 1040 (3)."""
    from transformers import AutoModelForCTC

    from transformers_export.coverage.sweep import tiny_config

    torch.manual_seed(0)
    AutoModelForCTC.from_config(tiny_config("sew")).save_pretrained(tmp_path / "checkpoint")
    result = export_model(str(tmp_path / "checkpoint"), tmp_path / "out", feature="ctc")
    assert result.validation.passed
    assert {run.sizes.get("samples") for run in result.validation.runs} >= {2240, 1040}


def test_audio_spectrogram_transformer_classifies_its_feature_extractor_s_frames_like_pytorch(tmp_path):
    """AST reads `input_values` as a fixed window of log-mel frames (batch, frames, bins), not a waveform: the export's
    dummy inputs, axes and validation follow, and the runtime class gives PyTorch's logits on the feature extractor's
    output for a synthesized tone."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(0)
    config = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=36, max_length=64,
                       num_mel_bins=32, num_labels=3)
    model = ASTForAudioClassification(config).eval()
    model.save_pretrained(tmp_path / "checkpoint")
    extractor = ASTFeatureExtractor(num_mel_bins=32, max_length=64)
    extractor.save_pretrained(tmp_path / "checkpoint")
    result = export_model(str(tmp_path / "checkpoint"), tmp_path / "out", feature="audio-classification")
    assert result.validation.passed and {1, 3} <= {run.sizes["batch"] for run in result.validation.runs}
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["graphs"]["model.onnx"]["inputs"]["input_values"]["axes"] == {"0": "batch"}
    seconds = np.arange(16000) / 16000
    tones = [np.sin(2 * np.pi * 440 * seconds), np.sin(2 * np.pi * 880 * seconds) * 0.5]
    features = extractor([t.astype(np.float32) for t in tones], sampling_rate=16000, return_tensors="np")["input_values"]
    assert features.shape == (2, 64, 32)
    got = from_pretrained(tmp_path / "out")(input_values=features).logits
    with torch.no_grad():
        expected = model(input_values=torch.from_numpy(features)).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_wav2vec2_bert_reads_its_feature_extractor_s_frames_with_a_mask_like_pytorch(tiny_checkpoint, tmp_path):
    """Wav2Vec2-BERT reads `input_features` (batch, frames, 160: two stacked frames of 80 mel bins) and a frame mask,
    both with the frame axis dynamic: the runtime gives PyTorch's CTC logits on the feature extractor's padded batch
    of two tones of different lengths."""
    from transformers import AutoModelForCTC, SeamlessM4TFeatureExtractor

    folder = tiny_checkpoint("wav2vec2-bert", "ctc")
    export_model(str(folder), tmp_path / "out", feature="ctc")
    extractor = SeamlessM4TFeatureExtractor()
    tones = [np.sin(2 * np.pi * 440 * np.arange(n) / 16000).astype(np.float32) for n in (8000, 5000)]
    batch = extractor(tones, sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="np")
    assert batch["input_features"].shape[2] == 160 and batch["attention_mask"][1].sum() < batch["attention_mask"].shape[1]
    got = from_pretrained(tmp_path / "out")(input_features=batch["input_features"], attention_mask=batch["attention_mask"]).logits
    with torch.no_grad():
        expected = AutoModelForCTC.from_pretrained(folder).eval()(
            input_features=torch.from_numpy(batch["input_features"]), attention_mask=torch.from_numpy(batch["attention_mask"])
        ).logits.numpy()
    kept = batch["attention_mask"].astype(bool)
    np.testing.assert_allclose(got[kept], expected[kept], atol=1e-4)


def test_ctc_checkpoint_with_a_feature_extractor_and_no_tokenizer_exports_and_keeps_it(tiny_checkpoint, tmp_path):
    """Wav2Vec2Processor needs a tokenizer; a checkpoint with only preprocessor_config.json has its feature extractor,
    which the export uses and copies."""
    import shutil

    from transformers import Wav2Vec2FeatureExtractor

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint("wav2vec2", "ctc"), folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.5).save_pretrained(folder)
    result = export_model(str(folder), tmp_path / "out", feature="ctc")
    assert result.validation.passed
    copied = json.loads((tmp_path / "out" / "preprocessor_config.json").read_text())
    assert copied["feature_extractor_type"] == "Wav2Vec2FeatureExtractor" and copied["padding_value"] == 0.5
