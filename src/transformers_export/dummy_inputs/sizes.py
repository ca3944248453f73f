"""The sizes example inputs are made at, by axis name: the trace's, the validation's (other shapes than the
trace's), and the calibration's (inputs of its own, never the validation's)."""

# `samples`: raw audio (16 kHz), long enough for wav2vec2's convolutional feature encoder (400 samples a frame); 1920
# make an odd frame count at the usual 320-sample stride: SEW pads its pooled-then-upsampled states back to the input
# length only for odd counts, a branch a trace at an even count would freeze away (validation then checks both parities)
DEFAULT_SIZES = {
    "batch": 2,
    "sequence": 8,
    "num_choices": 4,
    "past_sequence": 5,
    "decoder_sequence": 5,
    "samples": 1920,
    "feature_frames": 24,
}
# Validation runs on shapes other than the trace's, including batch 1 and an empty past (a decoder's first step),
# which exporters like to specialise on.
VALIDATION_SIZES = (
    {
        "batch": 3,
        "sequence": 11,
        "num_choices": 3,
        "past_sequence": 7,
        "decoder_sequence": 4,
        "height": 48,
        "width": 40,
        "samples": 2240,
        "feature_frames": 40,
    },
    {
        "batch": 1,
        "sequence": 5,
        "num_choices": 2,
        "past_sequence": 0,
        "decoder_sequence": 7,
        "height": 32,
        "width": 32,
        "samples": 1040,
        "feature_frames": 16,
    },
)
# Quantization presets that calibrate run the float graph on inputs of their own, never on the validation's.
CALIBRATION_SIZES = {
    "batch": 4,
    "sequence": 32,
    "num_choices": 2,
    "past_sequence": 16,
    "decoder_sequence": 8,
    "samples": 3200,
    "feature_frames": 64,
}
