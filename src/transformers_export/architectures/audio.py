"""Speech encoders that read the raw waveform (`input_values`): wav2vec2 and the models built on its convolutional
feature encoder. The audio length stays dynamic (validated at lengths other than the trace's); outputs have one
frame per 320 samples, an axis named `frames`."""

from __future__ import annotations

from .registry import ArchitectureSpec, declare, register

AUDIO_TASKS = ("default", "audio-classification", "ctc", "audio-frame-classification")
WAVEFORM = ("input_values",)
FRAMES = {"default": {"last_hidden_state": {0: "batch", 1: "frames"}}}


def speech_encoder(model_type: str, name: str, generic: bool = False, **deviations) -> ArchitectureSpec:
    return declare(model_type, name, WAVEFORM, AUDIO_TASKS, output_axes=FRAMES, atol=deviations.pop("atol", 1e-4), generic=generic, **deviations)


register(
    speech_encoder("wav2vec2", "Wav2Vec2"),
    speech_encoder("hubert", "Hubert", display="HuBERT"),
    speech_encoder("wavlm", "WavLM"),
    speech_encoder("data2vec-audio", "Data2VecAudio"),
    speech_encoder("sew", "SEW"),
    speech_encoder("unispeech", "UniSpeech"),
)
