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
    assert {2240, 1040} <= traced, "validated at lengths other than the traced 1600"
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
