"""Client layouts as data: `arrange` moves a staged export's graph and its external data to a target's names, and the
moved graph still runs; unknown targets and layouts a target has no names for are refused in one line."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from transformers_export.errors import InvalidArgumentError
from transformers_export.output.targets import TARGETS, arrange, check_layout, get_target


def _staged(folder):
    weight = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(folder / "model.onnx"), save_as_external_data=True, location="model.onnx.data",
              size_threshold=0)  # fmt: skip
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    entry = {"role": "model", "external_data": "model.onnx.data", "inputs": {}, "outputs": {}}
    return {"format": "onnx", "graphs": {"model.onnx": entry}, "files": []}


@pytest.mark.parametrize("preset, file", [(None, "model.onnx"), ("int4-weight", "model_q4.onnx")])
def test_arrange_moves_the_graph_and_its_data_and_they_still_run(preset, file, tmp_path):
    import onnxruntime

    manifest = arrange(tmp_path, _staged(tmp_path), get_target("transformers.js"), preset)
    assert list(manifest["graphs"]) == [f"onnx/{file}"] and manifest["target"] == "transformers.js"
    assert manifest["graphs"][f"onnx/{file}"]["external_data"] == f"onnx/{file}_data"
    assert sorted(manifest["files"]) == sorted(["config.json", "export.json", f"onnx/{file}", f"onnx/{file}_data"])
    assert not (tmp_path / "model.onnx").exists() and not (tmp_path / "model.onnx.data").exists()
    config = json.loads((tmp_path / "config.json").read_text())["transformers.js_config"]
    assert config["use_external_data_format"] == {file: 1} and config["dtype"] == ("q4" if preset else "fp32")
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / file))
    (y,) = session.run(None, {"x": np.eye(4, dtype=np.float32)})
    np.testing.assert_array_equal(y, np.arange(16, dtype=np.float32).reshape(4, 4))


def test_every_preset_has_a_name_in_every_target():
    from transformers_export.optimize.presets import QUANTIZATIONS

    for target in TARGETS.values():
        assert set(QUANTIZATIONS) | {None} <= set(target.dtypes), target.name


def test_unknown_targets_and_unnamed_layouts_are_refused():
    with pytest.raises(InvalidArgumentError, match="unknown target 'transformersjs'; did you mean 'transformers.js'"):
        get_target("transformersjs")
    with pytest.raises(InvalidArgumentError, match="--target transformers.js: .*decoder_model_merged"):
        check_layout(get_target("transformers.js"), ("encoder", "decoder"))
    check_layout(get_target("transformers.js"), ("model",))
