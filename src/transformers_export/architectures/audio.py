"""Speech encoders that read the raw waveform (`input_values`): wav2vec2 and the models built on its convolutional
feature encoder. The audio length stays dynamic (validated at lengths other than the trace's); outputs have one
frame per 320 samples, an axis named `frames`."""

from __future__ import annotations

from .registry import ArchitectureSpec, declare, register

AUDIO_TASKS = ("default", "audio-classification", "ctc", "audio-frame-classification")
WAVEFORM = ("input_values",)
FRAMES = {"default": {"last_hidden_state": {0: "batch", 1: "frames"}}}


def speech_encoder(model_type: str, name: str, generic: bool = False, **deviations) -> ArchitectureSpec:
    return declare(
        model_type,
        name,
        WAVEFORM,
        AUDIO_TASKS,
        output_axes=FRAMES,
        atol=deviations.pop("atol", 1e-4),
        generic=generic,
        **deviations,
    )


register(
    speech_encoder("wav2vec2", "Wav2Vec2"),
    speech_encoder("hubert", "Hubert", display="HuBERT"),
    speech_encoder("wavlm", "WavLM"),
    speech_encoder("data2vec-audio", "Data2VecAudio"),
    speech_encoder("sew", "SEW"),
    speech_encoder("unispeech", "UniSpeech"),
    # Wav2Vec2-BERT: filter-bank frames (`input_features`: batch, frames, 160) with a mask, one output frame each
    declare(
        "wav2vec2-bert",
        "Wav2Vec2Bert",
        ("input_features", "attention_mask"),
        AUDIO_TASKS,
        display="Wav2Vec2-BERT",
        input_axes={
            "input_features": {0: "batch", 1: "feature_frames"},
            "attention_mask": {0: "batch", 1: "feature_frames"},
        },
        output_axes={"default": {"last_hidden_state": {0: "batch", 1: "feature_frames"}}},
        atol=1e-4,
    ),
    # AST: a fixed window of log-mel frames (`input_values`: batch, frames, mel bins) cut into patches like an image,
    # so only the batch axis is dynamic, in and out
    declare(
        "audio-spectrogram-transformer",
        "AST",
        WAVEFORM,
        ("default", "audio-classification"),
        display="Audio Spectrogram Transformer",
        input_axes={"input_values": {0: "batch"}},
        output_axes={"default": {"last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}}},
        atol=1e-4,
    ),
)


# Speech encoder-decoders; the `-with-past` feature exports the generation layout.
# - Whisper's encoder reads a fixed window of log-mel frames (30 s for the released models) and no mask.
# - Speech2Text reads (frames, features) filter banks of any length, with a mask over the frames.
# - Moonshine reads the waveform; its export takes no mask (the model reduces the mask inside the encoder and hands
#   the result to the decoder through the encoder's output, which the decoder graph does not receive).
SPEECH_SEQ2SEQ_TASKS = ("speech2seq-lm", "speech2seq-lm-with-past")
FILTER_BANKS = {
    "input_features": {0: "batch", 1: "feature_frames"},
    "attention_mask": {0: "batch", 1: "feature_frames"},
}

register(
    # WhisperForAudioClassification: the encoder alone, pooled
    declare(
        "whisper",
        "Whisper",
        ("input_features", "decoder_input_ids"),
        (*SPEECH_SEQ2SEQ_TASKS, "audio-classification"),
        atol=1e-4,
    ),
    declare(
        "speech_to_text",
        "Speech2Text",
        ("input_features", "attention_mask", "decoder_input_ids"),
        SPEECH_SEQ2SEQ_TASKS,
        atol=1e-4,
        input_axes=FILTER_BANKS,
    ),
    declare("moonshine", "Moonshine", ("input_values", "decoder_input_ids"), SPEECH_SEQ2SEQ_TASKS, atol=1e-4),
)
