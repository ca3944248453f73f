"""The sizes an input's shape takes from the model's config and preprocessor rather than from the axes a graph keeps
dynamic (`FromConfig` dimensions of `dummy_inputs.INPUT_SPECS`): image size and channels, log-mel feature sizes,
the text hidden size of embeddings, an AST spectrogram window."""

from __future__ import annotations


def _image_sizes(config, preprocessor) -> dict[str, int]:
    """Channels and image size: what the checkpoint's image processor produces, else the config's image_size."""
    config = getattr(config, "vision_config", None) or config  # composite image-text configs
    sizes = {"num_channels": getattr(config, "num_channels", None) or 3}
    image_size = getattr(config, "image_size", None) or 64
    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)[:2]
    for attribute in ("crop_size", "size"):
        produced = getattr(preprocessor, attribute, None) if getattr(preprocessor, "do_resize", True) else None
        produced_height = getattr(produced, "height", None) or (
            produced.get("height") if isinstance(produced, dict) else None
        )
        produced_width = getattr(produced, "width", None) or (
            produced.get("width") if isinstance(produced, dict) else None
        )
        if (
            produced_height
            and produced_width
            and (attribute == "size" or getattr(preprocessor, "do_center_crop", False))
        ):
            height, width = produced_height, produced_width
            break
    sizes.update(height=height, width=width)
    return sizes


def fixed_sizes(config, preprocessor) -> dict[str, int]:
    """Every fixed size this config and preprocessor imply, by the name `FromConfig` gives it."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = {"text_hidden": text.hidden_size} if isinstance(getattr(text, "hidden_size", None), int) else {}
    spectrogram = (
        {"spectrogram_frames": config.max_length, "spectrogram_bins": config.num_mel_bins}
        if reads_spectrogram(config)
        else {}
    )
    return {**_image_sizes(config, preprocessor), **_audio_feature_sizes(config, preprocessor), **hidden, **spectrogram}


def _audio_feature_sizes(config, preprocessor) -> dict[str, int]:
    """The log-mel `input_features` a speech seq2seq encoder reads: `feature_rows` mel bins by `feature_columns`
    frames. Whisper's encoder takes exactly its window (two frames a position, 3000 for 30 s), so the frames are a
    fixed size; Speech2Text-style encoders and Wav2Vec2-BERT take (frames, bins) with the frames dynamic
    (`feature_frames`)."""
    config = getattr(config, "audio_config", None) or getattr(config, "encoder_config", None) or config
    bins = getattr(preprocessor, "feature_size", None) or getattr(config, "num_mel_bins", None)
    positions = getattr(config, "max_source_positions", None)
    if bins and positions:
        return {"feature_rows": bins, "feature_columns": 2 * positions}
    per_channel = getattr(config, "input_feat_per_channel", None)
    if per_channel:
        return {"feature_columns": per_channel * (getattr(config, "input_channels", None) or 1)}
    stacked = getattr(config, "feature_projection_input_dim", None)  # Wav2Vec2-BERT: two stacked frames of mel bins
    return {"feature_columns": stacked} if stacked else {}


def reads_spectrogram(config) -> bool:
    """AST-style: `input_values` are a window of log-mel frames cut into patches, not a waveform."""
    return all(hasattr(config, name) for name in ("frequency_stride", "time_stride", "max_length", "num_mel_bins"))
