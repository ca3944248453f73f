"""The generic path: model types transformers knows but the registry does not, exported and validated like registered
ones; and the coverage sweep on a fixed sample (the full sweep is `python -m transformers_export.coverage`)."""

import json

import pytest
import torch

from transformers_export import export_model
from transformers_export.coverage.sweep import check, shrink, tiny_config
from transformers_export.coverage.report import summary

# decoders with no registry entry: a plain one, Gemma 3 (sliding and global layers), mixture-of-experts, and
# DeepSeek-V3's latent attention (its cache: keys of qk_nope + qk_rope width, values of v_head_dim, every head), and
# GLM, whose padded positions differ between PyTorch and ONNX Runtime (they are not compared: padding.py), and
# Helium, whose interleaved rotary embedding the trace engine exports wrong unless `trace_gaps.traceable_ops` rewrites it
GENERIC_DECODERS = ["starcoder2", "gemma3_text", "qwen3_moe", "mixtral", "deepseek_v3", "glm", "helium"]


def _checkpoint(model_type, auto, folder):
    torch.manual_seed(0)
    model = auto.from_config(tiny_config(model_type)).eval()
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("model_type", GENERIC_DECODERS)
def test_unregistered_decoder_exports_generically_and_generates_like_pytorch(model_type, tmp_path):
    from transformers_export.architectures import find_spec

    assert find_spec(model_type) is None, "a registry entry would make this test prove nothing about the generic path"
    assert _export_and_generate(model_type, tmp_path)["architecture"] == "generic"


@pytest.mark.parametrize("model_type", ["deepseek_v2", "llama4_text"])
def test_decoders_rotating_with_complex_numbers_generate_like_pytorch(model_type, tmp_path):
    """DeepSeek-V2 and Llama 4 build their rotary embedding with `torch.polar` (ONNX has no complex type); their
    registry entries rotate (cos, sin) pairs instead, and Llama 4's chunked attention mask counts booleans, which
    the export casts. Greedy tokens equal PyTorch's on left-padded rows."""
    assert _export_and_generate(model_type, tmp_path)["architecture"] != "generic"


def _export_and_generate(model_type, tmp_path) -> dict:
    from transformers import AutoModelForCausalLM

    from transformers_export.runtime import OnnxModelForCausalLM

    model = _checkpoint(model_type, AutoModelForCausalLM, tmp_path / "checkpoint")
    export_model(str(tmp_path / "checkpoint"), tmp_path / "onnx", feature="auto")
    manifest = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert manifest["feature"] == "causal-lm-with-past" and manifest["validation"]["passed"]
    # the first row left-padded, as generate() batches prompts of different lengths
    prompt = {"input_ids": torch.tensor([[0, 0, 7, 8, 9], [10, 11, 12, 13, 14]]),
              "attention_mask": torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])}
    with torch.no_grad():
        expected = model.generate(**prompt, do_sample=False, max_new_tokens=10, min_new_tokens=10)
    got = OnnxModelForCausalLM.from_pretrained(tmp_path / "onnx").generate(**prompt, max_new_tokens=10, min_new_tokens=10)
    assert got.tolist() == expected.tolist()
    return manifest


@pytest.mark.parametrize("model_type,auto", [("chinese_clip", "AutoModelForZeroShotImageClassification"), ("glpn", "AutoModel")])
def test_contrastive_models_and_image_models_with_only_a_processor_export_generically(model_type, auto, tmp_path):
    """Chinese-CLIP has a zero-shot image classification class: CLIP's contrastive spec, both towers in one graph.
    GLPN has no image head, but an image processor (and no video one): the vision spec."""
    import transformers

    from transformers_export.architectures import find_spec

    assert find_spec(model_type) is None
    _checkpoint(model_type, getattr(transformers, auto), tmp_path / "checkpoint")
    feature = "zero-shot-image-classification" if model_type == "chinese_clip" else "default"
    result = export_model(str(tmp_path / "checkpoint"), tmp_path / "onnx", feature=feature)
    assert result.validation.passed
    manifest = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert manifest["architecture"] == "generic"
    expected = ["input_ids", "pixel_values", "attention_mask"] if model_type == "chinese_clip" else ["pixel_values"]
    assert list(manifest["graphs"]["model.onnx"]["inputs"]) == expected


def test_unregistered_encoder_exports_generically(tmp_path):
    from transformers import AutoModelForMaskedLM

    _checkpoint("ernie", AutoModelForMaskedLM, tmp_path / "checkpoint")
    result = export_model(str(tmp_path / "checkpoint"), tmp_path / "onnx", feature="masked-lm")
    assert result.validation.passed
    manifest = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert manifest["architecture"] == "generic"
    assert list(manifest["graphs"]["model.onnx"]["inputs"]) == ["input_ids", "attention_mask", "token_type_ids"]


def test_unregistered_image_model_exports_generically(tmp_path):
    """FocalNet has an image head and no registry entry: the vision spec, validated at fresh batch sizes."""
    from transformers import AutoModelForImageClassification

    from transformers_export.architectures import find_spec

    assert find_spec("focalnet") is None
    _checkpoint("focalnet", AutoModelForImageClassification, tmp_path / "checkpoint")
    result = export_model(str(tmp_path / "checkpoint"), tmp_path / "onnx", feature="image-classification")
    assert result.validation.passed and {1, 3} <= {run.sizes["batch"] for run in result.validation.runs}
    manifest = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert manifest["architecture"] == "generic"
    assert list(manifest["graphs"]["model.onnx"]["inputs"]) == ["pixel_values"]


def test_vision_towers_needing_their_processor_s_grids_are_not_guessed():
    """A Qwen2-VL-style tower takes patch grids only its processor makes: outside the generic path, with the reason."""
    from transformers_export.architectures.generic import generic_spec

    assert generic_spec("focalnet") is not None
    assert generic_spec("siglip2_vision_model") is None  # forward requires pixel_attention_mask and spatial_shapes


def test_config_validation_messages_repair_the_shrunk_sizes():
    """XLNet requires d_head == d_model // n_head, ESMC one key/value head per head: the config classes say so, and
    the shrinking follows what they say."""
    xlnet = tiny_config("xlnet")
    assert xlnet.d_head * xlnet.n_head == xlnet.d_model
    esmc = tiny_config("esmc")
    assert esmc.num_key_value_heads == esmc.num_attention_heads
    rope = tiny_config("hy_v4_vl_text").to_dict()
    sections = next(value["mrope_section"] for key, value in rope.items() if key.startswith("rope") and isinstance(value, dict) and "mrope_section" in value)
    assert sum(sections) == rope["qk_rope_head_dim"] // 2


def test_shrink_reaches_nested_configs_and_keeps_special_tokens_in_the_vocabulary():
    values = {"hidden_size": 4096, "vocab_size": 50000, "eos_token_id": [49999, 2], "pad_token_id": 49998,
              "text_config": {"num_hidden_layers": 40, "intermediate_size": 11008}, "use_cache": True}
    shrunk = shrink(values)
    assert shrunk["hidden_size"] == 32 and shrunk["vocab_size"] == 99 and shrunk["use_cache"] is True
    assert shrunk["eos_token_id"] == [2, 2] and shrunk["pad_token_id"] == 0
    assert shrunk["text_config"] == {"num_hidden_layers": 2, "intermediate_size": 36}


def test_sizes_left_unset_are_derived_and_per_layer_vocabularies_shrink():
    """Ministral reads head_dim, Nemotron num_key_value_heads, without deriving them when unset; Gemma 4's per-layer
    input embeddings have a vocabulary of their own (262144 x 256 would keep 134M parameters)."""
    shrunk = shrink({"hidden_size": 4096, "num_attention_heads": 32, "head_dim": None, "num_key_value_heads": None})
    assert (shrunk["head_dim"], shrunk["num_key_value_heads"]) == (8, 4)
    per_layer = shrink({"vocab_size_per_layer_input": 262144, "hidden_size_per_layer_input": 256})
    assert per_layer == {"vocab_size_per_layer_input": 99, "hidden_size_per_layer_input": 8}


def test_shrinking_fits_hierarchical_detector_and_unset_expert_sizes():
    """Swin's per-stage heads divide each stage's width and two stages stay a window wide; DETR's timm backbone
    becomes a tiny ResNet (timm is not a dependency); expert counts left to the checkpoint get tiny values; X-MOD
    gets a default language."""
    swin = shrink({"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24], "window_size": 7})
    assert swin == {"embed_dim": 32, "depths": [1, 1], "num_heads": [4, 8], "window_size": 2}
    detr = shrink({"backbone_config": {"model_type": "timm_backbone"}, "num_feature_levels": 4})
    assert detr["backbone_config"]["model_type"] == "resnet" and len(detr["backbone_config"]["out_features"]) == 3
    assert tiny_config("detr").backbone_config.model_type == "resnet"
    experts = shrink({"n_routed_experts": None, "num_experts_per_tok": None, "languages": ["en_XX", "de_DE"], "default_language": None})
    assert experts == {"n_routed_experts": 4, "num_experts_per_tok": 2, "languages": ["en_XX", "de_DE"], "default_language": "en_XX"}


def test_shrunk_sizes_stay_consistent():
    """Expert groups divide the shrunk experts; latent attention keeps one key/value head per head."""
    shrunk = shrink({"n_routed_experts": 256, "n_group": 8, "topk_group": 4, "num_attention_heads": 128,
                     "num_key_value_heads": 128, "kv_lora_rank": 512})
    assert (shrunk["n_routed_experts"], shrunk["n_group"], shrunk["topk_group"]) == (4, 1, 1)
    assert shrunk["num_key_value_heads"] == shrunk["num_attention_heads"] == 4


def test_coverage_sample(tmp_path):
    outcomes = []
    for model_type in ("bert", "starcoder2", "wav2vec2", "speecht5"):
        folder = tmp_path / model_type
        folder.mkdir()
        outcomes += check(model_type, folder)
    status = {(o.model_type, o.feature): o for o in outcomes}
    assert status[("bert", "sequence-classification")].status == "validated"
    assert status[("starcoder2", "causal-lm-with-past")].status == "validated-generic"
    assert status[("wav2vec2", "ctc")].status == "validated"  # the shrunk convolutional feature encoder too
    assert status[("speecht5", "default")].status == "n/a" and "outside the generic path" in status[("speecht5", "default")].reason
    for outcome in outcomes:
        assert outcome.status in ("validated", "validated-generic", "failed", "n/a")
        assert outcome.status.startswith("validated") or outcome.reason and "\n" not in outcome.reason
    counts = summary(outcomes)
    assert counts["model_types"] == 4 and counts["model_types_validated"] == 3


def test_sparse_attention_indexer_caches_are_refused_with_the_reason(tmp_path):
    """DeepSeek sparse attention (DeepSeek-V3.2) keeps an indexer key cache beside keys and values."""
    from transformers import AutoModelForCausalLM

    from transformers_export.errors import UnsupportedFeatureError
    from transformers_export.resolve.features import default_feature

    _checkpoint("deepseek_v32", AutoModelForCausalLM, tmp_path / "checkpoint")
    with pytest.raises(UnsupportedFeatureError, match="its sparse attention keeps an indexer key cache"):
        export_model(str(tmp_path / "checkpoint"), tmp_path / "onnx", feature="causal-lm-with-past")
    assert default_feature(str(tmp_path / "checkpoint")) == "causal-lm"
    assert not (tmp_path / "onnx").exists()
