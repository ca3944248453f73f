"""Image-text-to-text (LLaVA-shaped): the vision-language layout (vision encoder with projector, token embeddings,
decoder with a cache over embeddings), validated, and generation from an image and a prompt through the runtime with
the tokens of PyTorch's generate()."""

import json
import warnings

import numpy as np
import pytest
import torch

from transformers_export import export_model
from transformers_export.errors import InvalidArgumentError
from transformers_export.runtime import OnnxModelForImageTextToText, from_pretrained

IMAGE_TOKEN = 97
IMAGE_FEATURES = 16  # (32 / 8)² patches; the class token is dropped (vision_feature_select_strategy "default")


def _tiny_llava(folder):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=36, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8)
    text = LlamaConfig(
        vocab_size=99, hidden_size=32, intermediate_size=36, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, pad_token_id=0, bos_token_id=1, eos_token_id=98,
    )
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=IMAGE_TOKEN, vision_feature_layer=-2, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    return model


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llava")
    model = _tiny_llava(folder)
    out = tmp_path_factory.mktemp("llava-onnx") / "out"
    result = export_model(str(folder), out, feature="auto")
    return model, out, result, folder


def _batch():
    """Two prompts around one image each, the first left-padded, as a processor pads a batch for generation."""
    image = [IMAGE_TOKEN] * IMAGE_FEATURES
    ids = torch.tensor([[0, 0, 1, *image, 5, 6, 7], [1, 8, *image, 9, 10, 11, 12]])
    mask = torch.tensor([[0, 0] + [1] * 20, [1] * 22])
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": pixels}


def test_export_is_the_vision_language_layout(llava):
    _, out, result, _ = llava
    assert result.validation.passed
    assert any("step" in run.sizes for run in result.validation.runs), "the decoder's decode steps were validated"
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["layout"] == "vision-language" and manifest["feature"] == "image-text-to-text-with-past"
    roles = {entry["role"]: (file, entry) for file, entry in manifest["graphs"].items()}
    assert {role: file for role, (file, _) in roles.items()} == {
        "vision": "vision_encoder.onnx", "embed": "embed_tokens.onnx", "decoder": "decoder_model.onnx",
    }
    assert list(roles["vision"][1]["outputs"]) == ["image_features"]
    decoder_inputs = list(roles["decoder"][1]["inputs"])
    assert decoder_inputs[:3] == ["inputs_embeds", "attention_mask", "position_ids"] and "input_ids" not in decoder_inputs
    assert any(name.startswith("past_key_values.") for name in decoder_inputs)


@pytest.mark.parametrize("arguments", [{"max_new_tokens": 10}, {"max_new_tokens": 8, "num_beams": 3}], ids=["greedy", "beams"])
def test_generation_from_an_image_equals_pytorch(llava, arguments):
    model, out, _, _ = llava
    batch = _batch()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = model.generate(**batch, **arguments)
    onnx = from_pretrained(out)
    assert isinstance(onnx, OnnxModelForImageTextToText)
    got = onnx.generate(**batch, **arguments)
    assert got.tolist() == expected.tolist()
    assert got.shape[1] > batch["input_ids"].shape[1]


def test_forward_logits_equal_pytorch(llava):
    model, out, _, _ = llava
    batch = _batch()
    with torch.no_grad():
        expected = model(**batch).logits
    got = from_pretrained(out)(**{name: value.numpy() for name, value in batch.items()}).logits
    real = batch["attention_mask"].numpy() == 1  # padded positions are never read
    np.testing.assert_allclose(got[real], expected.numpy()[real], atol=1e-4)


def test_a_prompt_without_the_image_tokens_is_a_clear_error(llava):
    batch = _batch()
    batch["input_ids"] = batch["input_ids"].clone()
    batch["input_ids"][0, 5] = 4  # one image token short
    with pytest.raises(ValueError, match="hold 31 image tokens .* give 2 x 16 features"):
        from_pretrained(llava[1]).generate(**batch, max_new_tokens=2)


def test_images_of_the_wrong_size_are_a_clear_error(llava):
    batch = _batch()
    batch["pixel_values"] = batch["pixel_values"][:, :, :16, :16]
    with pytest.raises(ValueError, match=r"pixel_values must have shape \(images, 3, 32, 32\), got \(2, 3, 16, 16\)"):
        from_pretrained(llava[1]).generate(**batch, max_new_tokens=2)


def test_other_layouts_are_refused(llava, tmp_path):
    with pytest.raises(InvalidArgumentError, match="only as the vision-language layout"):
        export_model(str(llava[3]), tmp_path / "out", feature="image-text-to-text-with-past", layout="monolith")
    assert not (tmp_path / "out").exists()


FAMILIES = [
    "aya_vision", "internvl", "got_ocr2", "cohere2_vision", "ovis2", "deepseek_vl", "idefics3", "smolvlm", "vipllava",
    "video_llava", "pp_chart2table", "qianfan_ocr", "aria",
]


@pytest.mark.parametrize("model_type", FAMILIES)
def test_other_vision_language_families_generate_like_pytorch(model_type, tmp_path):
    """Families whose image features come from their own `get_image_features` (Aya Vision, InternVL, GOT-OCR 2,
    Command A Vision, Ovis2, DeepSeek-VL) and Idefics3 / SmolVLM (a vision model and a pixel-shuffling connector;
    their processors give (batch, images, 3, h, w)). PyTorch's generate() checks that the prompt holds one image token
    per feature."""
    from transformers import AutoModelForImageTextToText

    from transformers_export.coverage.sweep import tiny_config
    from transformers_export.layouts.vision_language import VisionGraph

    config = tiny_config(model_type)
    config.image_token_id = config.get_text_config().vocab_size - 2
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config).eval()
    model.save_pretrained(tmp_path / "checkpoint")
    assert export_model(str(tmp_path / "checkpoint"), tmp_path / "out", feature="auto").validation.passed
    size = config.vision_config.image_size
    size = size if isinstance(size, int) else size[0]
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        image = [config.image_token_id] * VisionGraph(model)(pixels[:1])["image_features"].shape[1]
    batch = {
        "input_ids": torch.tensor([[0, 0, 1, *image, 5, 6, 7], [1, 8, *image, 9, 10, 11, 12]]),
        "attention_mask": torch.tensor([[0, 0] + [1] * (len(image) + 4), [1] * (len(image) + 6)]),
        "pixel_values": pixels[:, None] if model_type in ("idefics3", "smolvlm") else pixels,
    }
    if model_type in ("idefics3", "smolvlm"):  # their processors also give a mask over each tile's pixels
        batch["pixel_attention_mask"] = torch.ones(2, 1, size, size, dtype=torch.int64)
    with torch.no_grad():
        expected = model.generate(**batch, max_new_tokens=8)
    assert from_pretrained(tmp_path / "out").generate(**batch, max_new_tokens=8).tolist() == expected.tolist()


@pytest.mark.parametrize("model_type", ["paligemma", "gemma3"])
def test_families_reading_token_types_generate_like_pytorch(model_type, tmp_path):
    """PaliGemma's image and prompt prefix (token type 0) and Gemma 3's images (token type 1) attend both ways. The
    decoder graph takes the types of every token so far and applies that mask at every step (PaliGemma itself
    applies it only on what it takes for the first step). The test is sensitive to that mask: PyTorch's logits
    without the types differ."""
    from transformers import AutoModelForImageTextToText

    from transformers_export.coverage.sweep import tiny_config
    from transformers_export.layouts.vision_language import VisionGraph

    config = tiny_config(model_type)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config).eval()
    model.save_pretrained(tmp_path / "checkpoint")
    result = export_model(str(tmp_path / "checkpoint"), tmp_path / "out", feature="auto")
    assert result.validation.passed
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    decoder = next(entry for entry in manifest["graphs"].values() if entry["role"] == "decoder")
    assert "token_type_ids" in decoder["inputs"]
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        count = VisionGraph(model)(pixels[:1])["image_features"].shape[1]
    image = [config.image_token_id] * count
    ids = torch.tensor([[0, 0, 1, *image, 5, 6, 7], [1, 8, *image, 9, 10, 11, 12]])
    mask = torch.tensor([[0, 0] + [1] * (count + 4), [1] * (count + 6)])
    types = (ids == config.image_token_id).long() if model_type == "gemma3" else torch.zeros_like(ids)
    batch = {"input_ids": ids, "attention_mask": mask, "pixel_values": pixels, "token_type_ids": types}
    real = mask.numpy() == 1
    with torch.no_grad():
        expected = model.generate(**batch, do_sample=False, max_new_tokens=8, min_new_tokens=8)
        logits = model(**batch).logits.numpy()[real]
        causal_logits = model(**{k: v for k, v in batch.items() if k != "token_type_ids"}).logits.numpy()[real]
    assert np.abs(logits - causal_logits).max() > 1e-3, "the tiny model's logits do not depend on the mask: no test"
    onnx = from_pretrained(tmp_path / "out")
    np.testing.assert_allclose(onnx(**{k: v.numpy() for k, v in batch.items()}).logits[real], logits, atol=1e-4)
    assert onnx.generate(**batch, max_new_tokens=8, min_new_tokens=8).tolist() == expected.tolist()
    with torch.no_grad():
        beams = model.generate(**batch, do_sample=False, num_beams=2, max_new_tokens=6, min_new_tokens=6)
    assert onnx.generate(**batch, num_beams=2, max_new_tokens=6, min_new_tokens=6).tolist() == beams.tolist()
    with pytest.raises(ValueError, match="reads token_type_ids"):
        onnx.generate(**{k: v for k, v in batch.items() if k != "token_type_ids"}, max_new_tokens=2)


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl", "glm4v"])
def test_patch_grid_families_generate_like_pytorch(model_type, tmp_path):
    """Qwen2-VL-style models: the vision graph takes one image's flattened patches at the export's grid, and the
    decoder (time, height, width) rotary positions that the runtime computes from the prompt as the model does. The
    test is sensitive to those positions: PyTorch's logits with text positions differ."""
    from transformers import AutoModelForImageTextToText

    from transformers_export.coverage.sweep import tiny_config

    config = tiny_config(model_type)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config).eval()
    model.save_pretrained(tmp_path / "checkpoint")
    assert export_model(str(tmp_path / "checkpoint"), tmp_path / "out", feature="auto").validation.passed
    onnx = from_pretrained(tmp_path / "out")
    vision = config.vision_config
    grid = 2 * vision.spatial_merge_size  # patches a side without an image processor
    image = [config.image_token_id] * (grid // vision.spatial_merge_size) ** 2
    ids = torch.tensor([[0, 0, 1, *image, 5, 6, 7], [1, 8, *image, 9, 10, 11, 12]])
    mask = torch.tensor([[0, 0] + [1] * (len(image) + 4), [1] * (len(image) + 6)])
    width = 3 * vision.temporal_patch_size * vision.patch_size ** 2
    batch = {"input_ids": ids, "attention_mask": mask, "image_grid_thw": torch.tensor([[1, grid, grid]] * 2),
             "pixel_values": torch.randn(2 * grid * grid, width, generator=torch.Generator().manual_seed(0))}
    types = {"mm_token_type_ids": (ids == config.image_token_id).long()}  # PyTorch's; the runtime finds the images itself
    real = mask.numpy() == 1
    with torch.no_grad():
        logits = model(**batch, **types).logits.numpy()[real]
        text_positions = (mask.cumsum(-1) - 1).clamp(min=0).expand(3, -1, -1)
        text_logits = model(**batch, **types, position_ids=text_positions).logits.numpy()[real]
    assert np.abs(logits - text_logits).max() > 1e-4, "the tiny model's logits do not depend on the positions: no test"
    np.testing.assert_allclose(onnx(**{k: v.numpy() for k, v in batch.items()}).logits[real], logits, atol=1e-4)
    for arguments in ({"max_new_tokens": 8, "min_new_tokens": 8}, {"num_beams": 2, "max_new_tokens": 6, "min_new_tokens": 6}):
        with torch.no_grad():
            expected = model.generate(**batch, **types, do_sample=False, **arguments)
        assert onnx.generate(**batch, **arguments).tolist() == expected.tolist()
    wrong = {**batch, "image_grid_thw": torch.tensor([[1, grid, 2 * grid]] * 2)}
    with pytest.raises(ValueError, match=f"takes images of {grid} x {grid} patches"):
        onnx.generate(**wrong, max_new_tokens=2)


def test_features_a_registry_entry_lacks_come_from_the_generic_path():
    """Gemma 3's entry declares image-text-to-text; its text features (the language model with a cache, a
    classifier) stay the generic path's, as they were before the entry existed."""
    from transformers_export.architectures import spec_for_feature
    from transformers_export.errors import UnsupportedFeatureError
    from transformers_export.resolve.plan import check_feature

    assert not spec_for_feature("gemma3", "image-text-to-text-with-past").generic
    assert spec_for_feature("gemma3", "causal-lm-with-past").generic
    assert "causal-lm-with-past" in spec_for_feature("gemma3", "causal-lm-with-past").features
    with pytest.raises(UnsupportedFeatureError, match="doesn't support feature 'ctc'"):
        check_feature(spec_for_feature("gemma3", "ctc"), "ctc")
