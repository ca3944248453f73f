"""`--layout merged`: the encoder's states, then one decoder that fills the cross-attention cache itself at its first
step (Transformers.js' and Optimum's contract). Every family it covers validates its decode steps and generates
PyTorch's tokens through our runtime, greedy and with beams, on a padded batch; the Transformers.js and Optimum tests
run the same folders in those clients."""

import json
import warnings

import numpy as np
import onnx
import pytest
import torch

from transformers_export import export_model
from transformers_export.runtime import from_pretrained

TEXT_FAMILIES = ["t5", "bart", "mbart", "marian", "pegasus", "m2m_100", "blenderbot"]
SOURCE = np.array([[5, 6, 7, 8, 9, 10], [11, 3, 17, 40, 0, 0]])


@pytest.mark.parametrize("model_type", TEXT_FAMILIES)
def test_text_encoder_decoders_generate_pytorch_tokens(model_type, tiny_checkpoint, tmp_path):
    from transformers import AutoModelForSeq2SeqLM

    checkpoint = tiny_checkpoint(model_type, "seq2seq-lm")
    result = export_model(str(checkpoint), tmp_path / "out", feature="seq2seq-lm-with-past", layout="merged")
    assert result.validation.passed and any("step" in run.sizes for run in result.validation.runs)
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["layout"] == "merged"
    assert list(manifest["graphs"]) == ["encoder_model.onnx", "decoder_model_merged.onnx"]
    assert list(manifest["graphs"]["encoder_model.onnx"]["outputs"]) == ["last_hidden_state"]
    decoder = onnx.load(str(tmp_path / "out" / "decoder_model_merged.onnx"), load_external_data=False).graph
    assert [value.name for value in decoder.input][:3] == [
        "input_ids",
        "encoder_attention_mask",
        "encoder_hidden_states",
    ]
    assert {node.op_type for node in decoder.node}.isdisjoint({"If", "Loop"})
    assert "present.0.encoder.key" in [value.name for value in decoder.output]
    mask = (SOURCE != 0).astype(np.int64)
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    ours = from_pretrained(tmp_path / "out")
    for beams in (1, 2):
        with torch.no_grad():
            expected = model.generate(torch.from_numpy(SOURCE), attention_mask=torch.from_numpy(mask),
                                      max_new_tokens=8, num_beams=beams, do_sample=False)  # fmt: skip
        got = ours.generate(SOURCE, attention_mask=mask, max_new_tokens=8, num_beams=beams, do_sample=False)
        assert np.asarray(got).tolist() == expected.tolist(), beams


def test_whisper_transcribes_as_pytorch_does(tiny_checkpoint, tmp_path):
    from transformers import WhisperForConditionalGeneration

    checkpoint = tiny_checkpoint("whisper", "speech2seq-lm")
    export_model(str(checkpoint), tmp_path / "out", feature="speech2seq-lm-with-past", layout="merged")
    model = WhisperForConditionalGeneration.from_pretrained(checkpoint).eval()
    frames = 2 * model.config.max_source_positions
    features = torch.randn(2, model.config.num_mel_bins, frames, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        expected = model.generate(features, max_new_tokens=8)
    assert from_pretrained(tmp_path / "out").generate(features, max_new_tokens=8).tolist() == expected.tolist()


def test_moonshine_transcribes_a_waveform_as_pytorch_does(tiny_checkpoint, tmp_path):
    from transformers import AutoModelForSpeechSeq2Seq

    checkpoint = tiny_checkpoint("moonshine", "speech2seq-lm-with-past")
    export_model(str(checkpoint), tmp_path / "out", feature="speech2seq-lm-with-past", layout="merged")
    audio = {"input_values": torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        expected = AutoModelForSpeechSeq2Seq.from_pretrained(checkpoint).eval().generate(**audio, max_new_tokens=8)
    assert from_pretrained(tmp_path / "out").generate(**audio, max_new_tokens=8).tolist() == expected.tolist()


def test_a_decoder_that_reads_the_states_length_is_refused_before_the_work(tiny_checkpoint, tmp_path):
    from transformers_export.errors import InvalidArgumentError

    checkpoint = tiny_checkpoint("speech_to_text", "speech2seq-lm-with-past")
    with pytest.raises(InvalidArgumentError, match="--layout merged cannot export speech-to-text: its decoder reduces"):
        export_model(str(checkpoint), tmp_path / "out", feature="speech2seq-lm-with-past", layout="merged")
    assert not (tmp_path / "out").exists()
