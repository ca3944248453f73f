"""Tiny random models for every registered architecture, built from configs (no hub) and saved once per session."""

from __future__ import annotations

from pathlib import Path

COMMON = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=36,
    max_position_embeddings=64,
    num_key_value_heads=2,  # grouped-query attention where the architecture has it
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)

# Only what COMMON cannot express through the config's attribute_map.
OVERRIDES = {
    "albert": dict(embedding_size=16),
    "distilbert": dict(hidden_dim=36),
    "flaubert": dict(emb_dim=32, n_layers=2, n_heads=4),
    "xlm": dict(emb_dim=32, n_layers=2, n_heads=4),
    "mobilebert": dict(embedding_size=16, intra_bottleneck_size=32, true_hidden_size=32, num_feedforward_networks=1),
    "squeezebert": dict(embedding_size=32, q_groups=2, k_groups=2, v_groups=2, post_attention_groups=2, intermediate_groups=2, output_groups=2),
    "convbert": dict(embedding_size=32, head_ratio=2),
    "rembert": dict(input_embedding_size=16, output_embedding_size=16),
    "modernbert": dict(global_attn_every_n_layers=2, local_attention=4, cls_token_id=1, sep_token_id=2),
    "big_bird": dict(block_size=2, num_random_blocks=2),
    "deberta": dict(type_vocab_size=2),
    "deberta-v2": dict(type_vocab_size=2),
    "layoutlm": dict(max_2d_position_embeddings=64),
    # decoders: small head_dim where the default is fixed, and windows shorter than the test sequences so that
    # sliding-window attention is exercised
    "gpt_neo": dict(num_layers=2, attention_types=[[["global", "local"], 1]], window_size=4),
    "gptj": dict(rotary_dim=4),
    "codegen": dict(rotary_dim=4),
    "gemma": dict(head_dim=8),
    "gemma2": dict(head_dim=8, sliding_window=4),
    "qwen3": dict(head_dim=8),
    "mistral": dict(sliding_window=4),
    "opt": dict(ffn_dim=36, word_embed_proj_dim=32),
}


BART_LIKE = dict(
    d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
    encoder_ffn_dim=36, decoder_ffn_dim=36,
)
T5_LIKE = dict(d_model=32, d_ff=36, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=8)
OVERRIDES["marian"] = dict(BART_LIKE, decoder_start_token_id=0)
for _model_type in ("bart", "mbart", "m2m_100", "blenderbot", "blenderbot-small", "plbart", "pegasus", "mvp", "pegasus_x"):
    OVERRIDES[_model_type] = BART_LIKE
OVERRIDES["bigbird_pegasus"] = dict(BART_LIKE, attention_type="original_full")
for _model_type in ("t5", "mt5", "longt5", "umt5"):
    OVERRIDES[_model_type] = dict(T5_LIKE, decoder_start_token_id=0)


VIT_LIKE = dict(image_size=32, patch_size=8, num_channels=3, num_labels=3)
for _model_type in ("vit", "deit", "beit", "data2vec-vision", "dinov2"):
    OVERRIDES[_model_type] = VIT_LIKE
for _model_type in ("beit", "data2vec-vision"):  # their segmentation head taps 4 layers
    OVERRIDES[_model_type] = dict(
        VIT_LIKE, num_hidden_layers=4, out_indices=[1, 2, 3, 4], pool_scales=[1, 2], auxiliary_channels=16,
        use_auxiliary_head=False, semantic_loss_ignore_index=255,
    )
OVERRIDES["convnext"] = dict(hidden_sizes=[8, 16], depths=[1, 1], image_size=32, num_channels=3)
OVERRIDES["resnet"] = dict(hidden_sizes=[8, 16], depths=[1, 1], embedding_size=8, num_channels=3)
OVERRIDES["swinv2"] = dict(embed_dim=16, depths=[1, 1], num_attention_heads=[2, 2], window_size=2, image_size=32, patch_size=4)
OVERRIDES["convnextv2"] = dict(hidden_sizes=[8, 16], depths=[1, 1], image_size=32, num_channels=3)
OVERRIDES["mobilenet_v1"] = dict(image_size=32, depth_multiplier=0.25, min_depth=4)
OVERRIDES["mobilenet_v2"] = dict(image_size=32, depth_multiplier=0.25, min_depth=4)
OVERRIDES["mobilevit"] = dict(
    image_size=32, patch_size=2, hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8, 8, 16, 16, 16, 16, 32],
    num_attention_heads=2, expand_ratio=2.0,
)
OVERRIDES["poolformer"] = dict(image_size=32, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], num_encoder_blocks=4)
OVERRIDES["levit"] = dict(
    image_size=32, hidden_sizes=[16, 32, 48], num_attention_heads=[1, 2, 3], depths=[1, 1, 1], key_dim=[8, 8, 8],
    patch_size=16, stride=2,
)
OVERRIDES["segformer"] = dict(
    image_size=32, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 2],
    patch_sizes=[7, 3], strides=[4, 2], mlp_ratios=[2, 2], decoder_hidden_size=16,
)
OVERRIDES["yolos"] = dict(image_size=[32, 32], patch_size=8, num_detection_tokens=3, num_labels=3)
_TEXT_TOWER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=36, vocab_size=99, max_position_embeddings=64)
_VISION_TOWER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=36, image_size=32, patch_size=8)
for _model_type in ("clip", "siglip"):
    OVERRIDES[_model_type] = dict(text_config=_TEXT_TOWER, vision_config=_VISION_TOWER, projection_dim=16)
for _model_type in ("clip_vision_model", "siglip_vision_model"):
    OVERRIDES[_model_type] = dict(_VISION_TOWER)
OVERRIDES["clip_text_model"] = dict(_TEXT_TOWER)
OVERRIDES["detr"] = dict(
    use_timm_backbone=False, use_pretrained_backbone=False,
    backbone_config=dict(model_type="resnet", hidden_sizes=[8, 16], depths=[1, 1], embedding_size=8, out_features=["stage2"]),
    d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
    encoder_ffn_dim=36, decoder_ffn_dim=36, num_queries=5, num_labels=3,
)
# wav2vec2-style speech encoders: a 3-layer convolutional feature encoder (80 samples a frame)
WAVEFORM = dict(
    conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4), num_feat_extract_layers=3,
    num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, vocab_size=20, classifier_proj_size=16,
)
# AST: 64 frames of 32 mel bins (10 patches)
OVERRIDES["audio-spectrogram-transformer"] = dict(max_length=64, num_mel_bins=32)
for _model_type in ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "sew", "unispeech", "unispeech-sat", "wav2vec2-conformer"):
    OVERRIDES[_model_type] = WAVEFORM
# Whisper: a window of 60 frames of 16 mel bins (two frames a position)
OVERRIDES["whisper"] = dict(BART_LIKE, num_mel_bins=16, max_source_positions=30, max_target_positions=64, decoder_start_token_id=1)
# Speech2Text: 16 filter-bank features a frame; Moonshine: the waveform
OVERRIDES["speech_to_text"] = dict(
    BART_LIKE, input_feat_per_channel=16, input_channels=1, conv_channels=16, max_source_positions=64,
    max_target_positions=64, decoder_start_token_id=1,
)
OVERRIDES["moonshine"] = dict(
    encoder_num_hidden_layers=2, decoder_num_hidden_layers=2, encoder_num_attention_heads=4, decoder_num_attention_heads=4,
    decoder_start_token_id=1,
)
# LLaVA: a CLIP vision tower (16 patches) and a Llama text model; 97 is the image token
OVERRIDES["llava"] = dict(
    vision_config=dict(model_type="clip_vision_model", **_VISION_TOWER),
    text_config=dict(model_type="llama", **{k: v for k, v in COMMON.items() if k not in ("bos_token_id", "eos_token_id")}),
    image_token_id=97, vision_feature_layer=-2, vision_feature_select_strategy="default",
)
OVERRIDES["swin"] = dict(embed_dim=16, depths=[1, 1], num_attention_heads=[2, 2], window_size=2, image_size=32, patch_size=4)


# model types whose tiny configuration is the coverage sweep's shrinking of their defaults
SHRUNK = (
    "aya_vision", "internvl", "got_ocr2", "cohere2_vision", "ovis2", "deepseek_vl", "idefics3", "smolvlm",
    "deepseek_v2", "llama4_text", "vipllava", "video_llava", "pp_chart2table", "qianfan_ocr", "aria",
    "paligemma", "gemma3", "qwen2_vl", "qwen2_5_vl", "glm4v", "glm46v", "glm_ocr", "glmga",
)
# a registered model type whose tiny configuration this module does not know would be built at full size
MAX_TINY_PARAMETERS = 40_000_000


def tiny_config(model_type: str, **extra):
    from transformers import AutoConfig

    if model_type in SHRUNK:
        from transformers_export.coverage.sweep import tiny_config as shrunk_config

        config = shrunk_config(model_type)
        config.image_token_id = config.get_text_config().vocab_size - 2  # inside the shrunk vocabulary
        if getattr(config, "pad_token_id", 0) is None:  # left-padded generation tests need one
            config.pad_token_id = 0
        for name, value in extra.items():
            setattr(config, name, value)
        return config

    kwargs = {**COMMON, **OVERRIDES.get(model_type, {}), **extra}
    config = AutoConfig.for_model(model_type, **kwargs)
    config.num_labels = 3
    return config


def save_tiny_model(model_type: str, feature: str, folder: Path, **config_extra) -> Path:
    import torch
    from transformers_export.tasks import auto_class, get_task

    torch.manual_seed(0)
    config = tiny_config(model_type, **config_extra)
    task = get_task(feature).name
    if task == "question-answering":
        config.num_labels = 2  # start and end logits
    if task in ("causal-lm", "seq2seq-lm", "speech2seq-lm"):
        # A random model picks eos=2 early; the last id makes generation checks run longer before stopping.
        config.eos_token_id = config.vocab_size - 1
        if getattr(config, "forced_eos_token_id", None) is not None:
            config.forced_eos_token_id = config.vocab_size - 1
    import transformers

    from transformers_export.tasks import transformers_model_class_name

    class_name = transformers_model_class_name(get_task(feature), config.model_type)
    if isinstance(class_name, (tuple, list)):  # several heads for one task (DeiT): the first is the plain one
        build = lambda: getattr(transformers, class_name[0])(config)  # noqa: E731
    else:
        build = lambda: auto_class(get_task(feature)).from_config(config)  # noqa: E731
    with torch.device("meta"):
        parameters = sum(p.numel() for p in build().parameters())
    assert parameters <= MAX_TINY_PARAMETERS, f"{model_type}'s test model has {parameters / 1e6:.0f}M parameters: add it to SHRUNK or OVERRIDES"
    torch.manual_seed(0)
    model = build()
    model.eval()
    model.save_pretrained(folder)
    return folder
