"""Vision: the real preprocessing path (PIL image -> the checkpoint's image processor -> ONNX Runtime)."""

import numpy as np
import onnxruntime
import torch
from PIL import Image
from transformers import AutoModelForImageClassification, ViTImageProcessor

from transformers_export import cli


def test_pil_image_through_the_image_processor_gives_pytorch_top1(tiny_checkpoint, tmp_path):
    import shutil

    folder = tmp_path / "vit"
    shutil.copytree(tiny_checkpoint("vit", "image-classification"), folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    out = tmp_path / "onnx"
    assert cli.main(["-m", str(folder), "--feature", "image-classification", str(out)]) == 0
    assert (out / "preprocessor_config.json").is_file()

    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(out)
    rng = np.random.default_rng(0)
    images = [Image.fromarray((rng.random((48 + 8 * i, 40, 3)) * 255).astype("uint8")) for i in range(3)]
    pixels = processor(images=images, return_tensors="np")["pixel_values"]
    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"pixel_values": pixels})
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(pixels)).logits.numpy()
    assert logits.argmax(-1).tolist() == expected.argmax(-1).tolist()
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_image_model_asked_for_a_text_feature_lists_its_features(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["-m", str(tiny_checkpoint("vit", "image-classification")), "--feature", "masked-lm", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "vit doesn't support feature 'masked-lm'" in err and "image-classification" in err
    assert not out.exists()
