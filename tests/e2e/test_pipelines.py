"""`transformers.pipeline()` over exported folders gives what it gives over the PyTorch model, pipeline by pipeline.

Text models are tiny random ones with the packaged MiniLM's tokenizer (vocabulary 30,522), so that the pipelines'
real pre- and post-processing runs; vision models use their own image processors on a synthetic picture.
"""

import shutil

import numpy as np
import pytest
import torch
import transformers

from tiny_models import tiny_config
from transformers_export import export_model
from transformers_export.runtime import from_pretrained

VOCAB = 30522


def _build(model_type, feature, folder, processor=None, **config_changes):
    torch.manual_seed(0)
    config = tiny_config(model_type, **config_changes)
    from transformers_export.tasks import auto_class, get_task

    model = auto_class(get_task(feature)).from_config(config).eval()
    model.save_pretrained(folder / "checkpoint")
    if processor is not None:
        processor.save_pretrained(folder / "checkpoint")
    export_model(str(folder / "checkpoint"), folder / "onnx", feature=feature)
    return model, from_pretrained(folder / "onnx")


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return transformers.AutoTokenizer.from_pretrained(minilm_path)


def _both(task, torch_model, onnx_model, inputs, **kwargs):
    components = {name: kwargs.pop(name) for name in ("tokenizer", "image_processor") if name in kwargs}
    call = kwargs.pop("call", {})
    expected = transformers.pipeline(task, model=torch_model, **components, **kwargs)(inputs, **call)
    got = transformers.pipeline(task, model=onnx_model, **components, **kwargs)(inputs, **call)
    return expected, got


def _assert_same(expected, got, tolerance=1e-4):
    if isinstance(expected, dict):
        assert expected.keys() == got.keys()
        for key in expected:
            _assert_same(expected[key], got[key], tolerance)
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(got)
        for a, b in zip(expected, got):
            _assert_same(a, b, tolerance)
    elif isinstance(expected, (float, np.floating)):
        assert got == pytest.approx(expected, rel=tolerance, abs=tolerance)
    elif hasattr(expected, "size") and hasattr(expected, "mode"):  # PIL masks
        assert np.array_equal(np.asarray(expected), np.asarray(got))
    else:
        assert expected == got


SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Exported graphs should behave like the model."]


def test_text_classification(tokenizer, tmp_path):
    torch_model, onnx_model = _build("bert", "sequence-classification", tmp_path, vocab_size=VOCAB)
    expected, got = _both("text-classification", torch_model, onnx_model, SENTENCES, tokenizer=tokenizer, call={"top_k": None})
    _assert_same(expected, got)


def test_zero_shot_classification(tokenizer, tmp_path):
    labels = {0: "contradiction", 1: "neutral", 2: "entailment"}
    torch_model, onnx_model = _build(
        "bert", "sequence-classification", tmp_path, vocab_size=VOCAB, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    call = {"candidate_labels": ["sports", "politics", "cooking"]}
    expected, got = _both("zero-shot-classification", torch_model, onnx_model, SENTENCES[0], tokenizer=tokenizer, call=call)
    _assert_same(expected, got)


def test_token_classification(tokenizer, tmp_path):
    torch_model, onnx_model = _build("bert", "token-classification", tmp_path, vocab_size=VOCAB)
    expected, got = _both("token-classification", torch_model, onnx_model, SENTENCES[0], tokenizer=tokenizer)
    assert expected, "a random head labels some tokens, or this test compares nothing"
    _assert_same(expected, got)


def test_fill_mask(tokenizer, tmp_path):
    torch_model, onnx_model = _build("bert", "masked-lm", tmp_path, vocab_size=VOCAB)
    expected, got = _both("fill-mask", torch_model, onnx_model, "Paris is the [MASK] of France.", tokenizer=tokenizer)
    _assert_same(expected, got)


def test_feature_extraction_on_the_real_minilm(minilm_path, tokenizer, tmp_path):
    export_model(str(minilm_path), tmp_path / "onnx")
    torch_model = transformers.AutoModel.from_pretrained(minilm_path).eval()
    expected, got = _both("feature-extraction", torch_model, from_pretrained(tmp_path / "onnx"), SENTENCES, tokenizer=tokenizer)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(np.array(b), np.array(a), atol=1e-4)


def test_text_generation(tokenizer, tmp_path):
    torch_model, onnx_model = _build("llama", "causal-lm-with-past", tmp_path, vocab_size=VOCAB, eos_token_id=VOCAB - 1)
    for call in ({"max_new_tokens": 12, "do_sample": False}, {"max_new_tokens": 8, "do_sample": False, "num_beams": 3, "num_return_sequences": 2}):
        expected, got = _both("text-generation", torch_model, onnx_model, SENTENCES[0], tokenizer=tokenizer, call=call)
        assert expected == got


def _picture(size=48):
    from PIL import Image

    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def test_image_classification(tmp_path):
    processor = transformers.ViTImageProcessor(size={"height": 32, "width": 32})
    torch_model, onnx_model = _build("vit", "image-classification", tmp_path, processor)
    expected, got = _both("image-classification", torch_model, onnx_model, _picture(), image_processor=processor)
    _assert_same(expected, got)


def test_image_segmentation(tmp_path):
    processor = transformers.SegformerImageProcessor(size={"height": 32, "width": 32})
    torch_model, onnx_model = _build("segformer", "semantic-segmentation", tmp_path, processor)
    expected, got = _both("image-segmentation", torch_model, onnx_model, _picture(), image_processor=processor)
    _assert_same(expected, got)


def test_object_detection(tmp_path):
    processor = transformers.YolosImageProcessor(size={"height": 32, "width": 32})
    torch_model, onnx_model = _build("yolos", "object-detection", tmp_path, processor)
    expected, got = _both("object-detection", torch_model, onnx_model, _picture(), image_processor=processor, call={"threshold": 0.0})
    assert expected, "a threshold of 0 keeps every box, or this test compares nothing"
    _assert_same(expected, got)


def test_zero_shot_image_classification(tokenizer, tmp_path):
    processor = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    text = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=36, vocab_size=VOCAB, max_position_embeddings=64)
    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=36, image_size=32, patch_size=8)
    torch_model, onnx_model = _build(
        "clip", "zero-shot-image-classification", tmp_path, processor, text_config=text, vision_config=vision, projection_dim=16
    )
    call = {"candidate_labels": ["a cat", "a dog", "a plane"]}
    expected, got = _both("zero-shot-image-classification", torch_model, onnx_model, _picture(), tokenizer=tokenizer, image_processor=processor, call=call)
    _assert_same(expected, got)


def test_the_exported_folder_alone_is_enough_for_a_pipeline(tokenizer, tmp_path):
    """The export copies the tokenizer, so the exported folder is all a pipeline needs (transformers 5 wants the
    tokenizer passed whenever the model is an object, PyTorch or not)."""
    torch_model, _ = _build("bert", "sequence-classification", tmp_path, tokenizer, vocab_size=VOCAB)
    shutil.rmtree(tmp_path / "checkpoint")
    folder = str(tmp_path / "onnx")
    pipe = transformers.pipeline("text-classification", model=from_pretrained(folder), tokenizer=folder)
    expected = transformers.pipeline("text-classification", model=torch_model, tokenizer=tokenizer)(SENTENCES)
    _assert_same(expected, pipe(SENTENCES))
