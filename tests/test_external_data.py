"""Large-model layout: external weights end up in one `model.onnx.data` (torch writes one file per tensor > 2 GB)."""

import numpy as np
import onnx
import onnxruntime
from onnx.external_data_helper import convert_model_to_external_data
from transformers import AutoModel

from transformers_export import export
from transformers_export.features import FeaturesManager
from transformers_export.onnx.convert import consolidate_external_data


def test_per_tensor_external_files_are_consolidated(tiny_checkpoint, tmp_path):
    model = AutoModel.from_pretrained(tiny_checkpoint("bert"))
    onnx_config = FeaturesManager.get_config("bert", "default")(model.config)
    path = tmp_path / "model.onnx"
    export(None, model, onnx_config, 17, path)
    inputs = {k: v.numpy() for k, v in onnx_config.generate_dummy_inputs(None, batch_size=3, seq_length=5).items()}
    expected = onnxruntime.InferenceSession(str(path)).run(None, inputs)

    # what torch writes above 2 GB: every initializer in a file of its own
    proto = onnx.load(str(path))
    convert_model_to_external_data(proto, all_tensors_to_one_file=False, size_threshold=0)
    onnx.save(proto, str(path))
    assert len(list(tmp_path.iterdir())) > 10

    consolidate_external_data(path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]
    got = onnxruntime.InferenceSession(str(path)).run(None, inputs)
    np.testing.assert_array_equal(got[0], expected[0])
