"""Tiny configurations for the coverage matrix: a model type's default configuration with its sizes shrunk (hidden
size, layers, heads, intermediate size, vocabulary, image sizes; in nested text, vision and audio configurations too).

Sizes that must agree after shrinking are made to agree (`_consistent`); where a configuration class still refuses
the result, its own validation message says which size must equal which, and `tiny_config` sets it so.
"""

from __future__ import annotations

import re

# configuration sizes and their tiny values; nested text / vision / audio configurations are shrunk the same way
TINY = {
    "hidden_size": 32, "d_model": 32, "n_embd": 32, "embed_dim": 32, "dim": 32, "emb_dim": 32, "n_embed": 32,
    "num_hidden_layers": 2, "n_layer": 2, "n_layers": 2, "num_layers": 2, "encoder_layers": 2, "decoder_layers": 2,
    "num_attention_heads": 4, "n_head": 4, "n_heads": 4, "num_heads": 4, "encoder_attention_heads": 4,
    "decoder_attention_heads": 4, "num_key_value_heads": 2, "multi_query_group_num": 2,
    "intermediate_size": 36, "ffn_dim": 36, "n_inner": 36, "d_ff": 36, "encoder_ffn_dim": 36, "decoder_ffn_dim": 36,
    "hidden_dim": 36, "moe_intermediate_size": 16, "shared_expert_intermediate_size": 16,
    "num_experts": 4, "num_local_experts": 4, "n_routed_experts": 4, "num_experts_per_tok": 2,
    "vocab_size": 99, "unpadded_vocab_size": 99, "vocab_size_per_layer_input": 99, "num_layers_per_stack": 1,
    "hidden_size_per_layer_input": 8, "max_position_embeddings": 128, "n_positions": 128, "head_dim": 8,
    "kv_channels": 8,
    "image_size": 32, "patch_size": 8, "window_size": 2, "num_channels": 3, "rotary_dim": 4,
    "projection_dim": 16, "projection_size": 32,
    # latent attention (DeepSeek-V2/V3-style)
    "num_kv_shared_layers": 0,
    "kv_lora_rank": 16, "q_lora_rank": 16, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8,
    # state-space and linear-attention layers (Mamba-2, Bamba, Kimi Linear, ...)
    "mamba_n_heads": 4, "mamba_d_head": 16, "mamba_d_state": 16, "mamba_n_groups": 1, "n_groups": 1, "state_size": 16,
    "linear_num_heads": 4, "linear_head_dim": 8, "num_experts_per_token": 2, "lru_width": 32,
    "attention_hidden_size": 32,  # RWKV's
    "depth": 2,  # vision towers' layers (Qwen2-VL)
    "mm_tokens_per_image": 4,  # Gemma 3 pools the tiny tower's 4 x 4 patches to 2 x 2 image tokens
}
LAYER_COUNTS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")
UNSET_EXPERT_SIZES = {"n_routed_experts": 4, "num_local_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1}
HEADS_PER_STAGE = ("num_heads", "num_attention_heads")
SUB_CONFIGS = ("text_config", "vision_config", "audio_config", "encoder_config", "decoder_config", "encoder", "decoder")


# special tokens of the full vocabulary get ids inside the tiny one
SPECIAL_TOKENS = {
    "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1, "sep_token_id": 2,
    "cls_token_id": 1, "mask_token_id": 3, "unk_token_id": 3,
}


def _inside_vocabulary(key: str, value, vocabulary: int):
    if isinstance(value, list):
        return [_inside_vocabulary(key, item, vocabulary) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= vocabulary:
        return SPECIAL_TOKENS[key]
    return value


# per-layer kinds of hybrid models (attention beside recurrent or convolution layers)
LAYER_KINDS = ("layer_types", "layers_block_type", "block_types")
MAX_KEPT_LAYERS = 8


def kept_layers(values: dict) -> int:
    """How many layers the tiny model keeps: two, or as many as it takes for every kind of layer the full model has
    (a hybrid model cut to two recurrent layers would have no attention layer, and no generation to check)."""
    needed = 2
    for key in LAYER_KINDS:
        kinds = values.get(key)
        if isinstance(kinds, list) and kinds and all(isinstance(kind, str) for kind in kinds):
            # a short list repeats over the layers (RecurrentGemma's block_types)
            covering = next(n for n in range(1, len(kinds) + 1) if set(kinds[:n]) == set(kinds))
            needed = max(needed, covering)
    offset = values.get("attn_layer_offset")  # Jamba's and Zamba's first attention layer
    if isinstance(offset, int) and isinstance(values.get("attn_layer_period"), int):
        needed = max(needed, offset + 1)
    return needed if needed <= MAX_KEPT_LAYERS else 2


def shrink(values: dict, every_kind: bool = True) -> dict:
    """`values` (a config's dict) with its sizes made tiny; with `every_kind`, hybrid models keep a layer of each kind
    (`kept_layers`), else two layers."""
    shrunk = {}
    too_large = isinstance(values.get("vocab_size"), int) and values["vocab_size"] > TINY["vocab_size"]
    vocabulary = TINY["vocab_size"] if too_large else None
    layers = next((values[key] for key in LAYER_COUNTS if isinstance(values.get(key), int)), None)
    kept = kept_layers(values) if every_kind else 2
    for key, value in values.items():
        if key in SUB_CONFIGS and isinstance(value, dict):
            shrunk[key] = shrink(value, every_kind)
        elif key in HEADS_PER_STAGE and isinstance(value, list) and all(isinstance(item, int) for item in value):
            # hierarchical models (Swin) double the width per stage: heads a power of two divide every stage's width
            shrunk[key] = [1 << max(0, (item - 1).bit_length()) for item in value][:len(shrunk.get("depths", value))]
        elif key == "depths" and isinstance(value, list):
            # one block a stage; and two stages where nothing else is per stage, so that a tiny image still leaves
            # each stage at least a window wide (Swin's traced window clamping breaks below that)
            per_stage = {name for name, other in values.items() if isinstance(other, list) and len(other) == len(value)
                         and not (layers and len(other) == layers > 2)}  # per-layer lists are cut to two anyway
            shrunk[key] = [1] * (min(2, len(value)) if per_stage <= {key, *HEADS_PER_STAGE} else len(value))
        elif isinstance(value, list) and layers and len(value) == layers > 2:
            shrunk[key] = value[:kept]  # one entry per layer (layer_types, mlp_layer_types, ...)
        elif key == "per_layer_config" and isinstance(value, dict):
            shrunk[key] = {index: entry for index, entry in value.items() if int(index) < kept}
        elif key in LAYER_COUNTS and isinstance(value, int) and value >= kept:
            shrunk[key] = kept
        elif key in SPECIAL_TOKENS and vocabulary is not None:
            shrunk[key] = _inside_vocabulary(key, value, vocabulary)
        elif key in TINY and isinstance(value, int) and not isinstance(value, bool) and value > TINY[key]:
            shrunk[key] = TINY[key]
        elif key in ("vision_feature_layer", "vision_feature_layers") and isinstance(value, list):
            shrunk[key] = [-1] * len(value)  # indices into the hidden states of a tower that has two layers now
        elif key == "layer_types" and isinstance(value, list):
            shrunk[key] = value[:kept]
        elif key in ("out_features", "out_indices", "stage_names"):
            continue  # backbone outputs name layers the tiny model no longer has; the defaults name its last one
        else:
            shrunk[key] = value
    return _consistent(values, shrunk)


def _consistent(original: dict, shrunk: dict) -> dict:
    """Sizes that must agree with each other after shrinking."""
    # expert groups (DeepSeek-V3-style routing) divide the experts: with 4 experts, one group
    for groups in ("n_group", "num_expert_group"):
        experts_changed = any(shrunk.get(k) != original.get(k) for k in ("n_routed_experts", "num_experts"))
        if isinstance(shrunk.get(groups), int) and experts_changed:
            shrunk[groups], shrunk["topk_group"] = 1, 1
    # hybrid models whose default config has no attention layer (Bamba, Granite-MoE-Hybrid) fail a cached forward
    # in transformers itself: their last layer attends, as their checkpoints' layers do
    layers = next((shrunk[key] for key in LAYER_COUNTS if isinstance(shrunk.get(key), int)), 2)
    if "attn_layer_indices" in shrunk and not shrunk["attn_layer_indices"]:
        shrunk["attn_layer_indices"] = [layers - 1]
    if isinstance(shrunk.get("layer_types"), list) and set(shrunk["layer_types"]) == {"linear_attention"}:
        shrunk["layer_types"] = shrunk["layer_types"][:-1] + ["full_attention"]
    # a projector onto the language model's width (PaliGemma's projection_dim) follows that width
    text = shrunk.get("text_config")
    text_width = (original.get("text_config") or {}).get("hidden_size", original.get("projection_dim"))
    projection = shrunk.get("projection_dim")
    if isinstance(text, dict) and isinstance(projection, int) and original.get("projection_dim") == text_width:
        shrunk["projection_dim"] = text.get("hidden_size", TINY["hidden_size"])
    # Qwen2.5-VL's windowed vision attention: windows of two merged patches a side
    if all(isinstance(shrunk.get(k), int) for k in ("window_size", "patch_size", "spatial_merge_size")):
        shrunk["window_size"] = shrunk["patch_size"] * shrunk["spatial_merge_size"] * 2
    # Qwen2-VL-style models rotate by (time, height, width) sections, [16, 24, 24] when the config names none
    vision = shrunk.get("vision_config")
    if isinstance(text, dict) and isinstance(vision, dict) and "temporal_patch_size" in vision:
        rope = text.get("rope_parameters") or {}
        if "mrope_section" not in rope:
            text["rope_parameters"] = {**rope, "mrope_section": [16, 24, 24]}
            _scale_mrope(text)
        if isinstance(vision.get("out_hidden_size"), int):  # the merger projects onto the language model's width
            vision["out_hidden_size"] = text.get("hidden_size", TINY["hidden_size"])
    # a Mamba-2 mixer's width (Falcon-H1's mamba_d_ssm, else expand x hidden) splits into its heads
    if all(isinstance(shrunk.get(k), int) for k in ("mamba_n_heads", "mamba_d_head", "hidden_size")):
        width = (shrunk.get("mamba_expand") or 2) * shrunk["hidden_size"]
        if isinstance(shrunk.get("mamba_d_ssm"), int):
            shrunk["mamba_d_ssm"] = width
        shrunk["mamba_d_head"] = width // shrunk["mamba_n_heads"]
    # Mamba-2 heads split the expanded width: hidden * expand = heads * head_dim
    sized = all(isinstance(shrunk.get(k), int) for k in ("expand", "num_heads", "head_dim", "hidden_size"))
    if sized and "num_attention_heads" not in shrunk:
        shrunk["head_dim"] = shrunk["hidden_size"] * shrunk["expand"] // shrunk["num_heads"]
    # latent attention expands its one latent key/value to every head
    if "kv_lora_rank" in original and original.get("num_key_value_heads") == original.get("num_attention_heads"):
        shrunk["num_key_value_heads"] = shrunk.get("num_attention_heads")
    # sizes left unset (None) that some models read without deriving them: what the config classes' docs say they mean
    heads, hidden = shrunk.get("num_attention_heads"), shrunk.get("hidden_size")
    if "head_dim" in shrunk and shrunk["head_dim"] is None and isinstance(heads, int) and isinstance(hidden, int):
        shrunk["head_dim"] = hidden // heads
    if "num_key_value_heads" in shrunk and shrunk["num_key_value_heads"] is None and isinstance(heads, int):
        shrunk["num_key_value_heads"] = heads
    for key in UNSET_EXPERT_SIZES:  # a mixture of experts whose config leaves its sizes to the checkpoint (Dots1)
        if key in shrunk and shrunk[key] is None:
            shrunk[key] = UNSET_EXPERT_SIZES[key]
    # X-MOD routes every input through one language's adapter: the first it has
    if shrunk.get("default_language") is None and isinstance(shrunk.get("languages"), list) and shrunk["languages"]:
        shrunk["default_language"] = shrunk["languages"][0]
    # a timm backbone (DETR's default) needs timm: a tiny transformers ResNet in its place, with as many feature
    # levels as the detector reads
    backbone = shrunk.get("backbone_config")
    if isinstance(backbone, dict) and backbone.get("model_type") == "timm_backbone":
        levels = ["stage2", "stage3", "stage4"] if (shrunk.get("num_feature_levels") or 1) > 1 else ["stage4"]
        shrunk["backbone_config"] = dict(
            model_type="resnet", hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], embedding_size=8,
            out_features=levels,
        )
        shrunk["use_pretrained_backbone"] = False
    # Aria's projector has a query count per number of image patches: one entry, for the tiny tower's patches
    vision = shrunk.get("vision_config")
    if isinstance(shrunk.get("projector_patch_to_query_dict"), dict) and isinstance(vision, dict):
        patches = (vision.get("image_size", TINY["image_size"]) // vision.get("patch_size", TINY["patch_size"])) ** 2
        shrunk["projector_patch_to_query_dict"] = {patches: 4}
        shrunk["max_value_projector_patch_to_query_dict"] = 4
    # multimodal rotary sections split half the rotary head width: scaled to the shrunk one
    _scale_mrope(shrunk)
    return shrunk


def _scale_mrope(shrunk: dict) -> None:
    width = shrunk.get("qk_rope_head_dim") or shrunk.get("head_dim") or TINY["head_dim"]
    for key in ("rope_parameters", "rope_scaling"):
        rope = shrunk.get(key)
        sections = rope.get("mrope_section") if isinstance(rope, dict) else None
        if isinstance(sections, list) and len(sections) == 3 and sum(sections) != width // 2:
            half = width // 2
            scaled = [max(1, section * half // sum(sections)) for section in sections]
            scaled[0] += half - sum(scaled)
            shrunk[key] = {**rope, "mrope_section": scaled}


# "`a.b` (512) must equal `c` (32)", "x (1024) must match y (32)", "x must be 0, got 256": set `a.b` to 32, x to 0
_MUST_EQUAL = re.compile(
    r"`?([\w.]+)`? \((\d+)\) (?:must|should) (?:be )?(?:equal|match)(?: to)?(?: the backbone)? `?[\w.\ /]+`? \((\d+)\)"
)
_MUST_BE = re.compile(r"`?([\w.]+)`? must be (\d+), got \d+")
REPAIRS = 6


def tiny_config(model_type: str):
    from transformers import AutoConfig

    default = AutoConfig.for_model(model_type).to_dict()
    default.pop("model_type", None)
    default.pop("transformers_version", None)
    try:
        config = _repaired_config(model_type, shrink(default))
    except Exception:  # noqa: BLE001 - a layer of every kind can break a per-layer rule the shrinking does not know
        if shrink(default) == shrink(default, every_kind=False):
            raise
        config = _repaired_config(model_type, shrink(default, every_kind=False))
    config.num_labels = 3
    # a config that leaves its layer kinds to the checkpoint (LFM2-MoE reads them unset): attention in every layer
    if getattr(config, "layer_types", ()) is None and isinstance(getattr(config, "num_hidden_layers", None), int):
        config.layer_types = ["full_attention"] * config.num_hidden_layers
    # a composite model's image token inside its language model's shrunk vocabulary, above the ids the sweep's random
    # prompts use (Aria's 9 would turn up in them as stray image tokens)
    vocabulary = getattr(config.get_text_config(), "vocab_size", None)
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if isinstance(value, int) and isinstance(vocabulary, int) and not vocabulary - 3 <= value < vocabulary:
            setattr(config, name, vocabulary - 2)
    return config


def _repaired_config(model_type: str, values: dict):
    """The config class's instance for `values`, set right where its validation messages say which size must equal
    which."""
    from transformers import AutoConfig

    for attempt in range(REPAIRS + 1):
        try:
            return AutoConfig.for_model(model_type, **values)
        except Exception as error:  # noqa: BLE001 - each config class raises its own validation errors
            if attempt == REPAIRS or not _repair(values, str(error)):
                raise


def _repair(values: dict, message: str) -> bool:
    """Set the size a config's validation message says must equal another; False when the message says no such thing."""
    match = _MUST_EQUAL.search(message)
    path, value = (match.group(1), int(match.group(3))) if match else (None, None)
    if match is None and (match := _MUST_BE.search(message)):
        path, value = match.group(1), int(match.group(2))
    if path is None:
        return False
    *parents, key = path.split(".")
    target = values
    for parent in parents:
        target = target.get(parent) if isinstance(target, dict) else None
    if not parents and key not in values:  # a bare name of a nested configuration's size
        target = next((sub for sub in values.values() if isinstance(sub, dict) and key in sub), None)
    if not isinstance(target, dict) or key not in target or target[key] == value:
        return False
    target[key] = value
    return True


