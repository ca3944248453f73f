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
    return {"format": "onnx", "layout": "monolith", "graphs": {"model.onnx": entry}, "files": []}


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


def test_unknown_targets_and_layouts_a_target_does_not_run_are_refused():
    with pytest.raises(InvalidArgumentError, match="unknown target 'transformersjs'; did you mean 'transformers.js'"):
        get_target("transformersjs")
    target = get_target("transformers.js")
    with pytest.raises(InvalidArgumentError, match="--target transformers.js has no file names for the generation"):
        check_layout(target, "generation", "seq2seq-lm-with-past", True)
    with pytest.raises(InvalidArgumentError, match="encoder-decoders as the merged layout only: use --feature "
                       "seq2seq-lm-with-past without --layout"):  # fmt: skip
        check_layout(target, "monolith", "seq2seq-lm", True)
    check_layout(target, "monolith", "default", False)
    check_layout(target, "merged", "seq2seq-lm-with-past", True)


def test_graphs_that_share_a_data_file_get_one_each_and_still_run(tmp_path):
    """The exporter writes one data file for an encoder-decoder's graphs; Transformers.js wants one per graph."""
    import onnxruntime

    weights = [numpy_helper.from_array(np.full((4, 4), k, dtype=np.float32), f"w{k}") for k in (1, 2, 3)]
    graphs = {}
    for role, used in (("encoder", (0, 1)), ("decoder", (1, 2))):  # w2 in both, as tied embeddings are
        nodes = [helper.make_node("MatMul", ["x", weights[used[0]].name], ["h"]),
                 helper.make_node("MatMul", ["h", weights[used[1]].name], ["y"])]  # fmt: skip
        graphs[role] = helper.make_model(helper.make_graph(
            nodes, role, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
            [weights[i] for i in used]), opset_imports=[helper.make_opsetid("", 17)])  # fmt: skip
    # both graphs' weights in one file, as the exporter writes them
    data = open(tmp_path / "model.onnx.data", "wb")
    for role, model in graphs.items():
        for tensor in model.graph.initializer:
            raw = tensor.raw_data
            offset = data.tell()
            data.write(raw)
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", "model.onnx.data"), ("offset", str(offset)), ("length", str(len(raw)))):
                tensor.external_data.add(key=key, value=value)
        onnx.save(model, str(tmp_path / f"{role}.onnx"))
    data.close()
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    entry = lambda role: {"role": role, "external_data": "model.onnx.data", "inputs": {}, "outputs": {}}
    staged = {"format": "onnx", "layout": "merged", "files": [],
              "graphs": {"encoder.onnx": entry("encoder"), "decoder.onnx": entry("decoder")}}  # fmt: skip
    manifest = arrange(tmp_path, staged, get_target("transformers.js"), None)
    assert sorted(manifest["graphs"]) == ["onnx/decoder_model_merged.onnx", "onnx/encoder_model.onnx"]
    assert not (tmp_path / "model.onnx.data").exists()
    for file, product in (("encoder_model", 1 * 2 * 4), ("decoder_model_merged", 2 * 3 * 4)):
        assert (tmp_path / "onnx" / f"{file}.onnx_data").is_file()
        session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / f"{file}.onnx"))
        (y,) = session.run(None, {"x": np.ones((1, 4), dtype=np.float32)})
        np.testing.assert_array_equal(y, np.full((1, 4), product * 4, dtype=np.float32))


def test_float_graphs_kept_beside_quantized_ones_are_both_declared_and_both_run(tmp_path):
    """`--quantize` with a target: the float graph is copied to the target's names before it is quantized in place."""
    import onnxruntime

    staged = _staged(tmp_path)
    kept = arrange(tmp_path, staged, get_target("transformers.js"), None, keep=True)
    assert (tmp_path / "model.onnx").exists() and (tmp_path / "model.onnx.data").exists()  # left to be quantized
    manifest = arrange(tmp_path, staged, get_target("transformers.js"), "int8-weight", float_graphs=kept)
    assert list(manifest["graphs"]) == ["onnx/model_quantized.onnx"] and list(manifest["float_graphs"]) == [
        "onnx/model.onnx"
    ]
    config = json.loads((tmp_path / "config.json").read_text())["transformers.js_config"]
    assert config == {"dtype": "q8", "use_external_data_format": {"model.onnx": 1, "model_quantized.onnx": 1}}
    for file in ("model.onnx", "model_quantized.onnx"):
        (y,) = onnxruntime.InferenceSession(str(tmp_path / "onnx" / file)).run(None, {"x": np.eye(4, dtype=np.float32)})
        np.testing.assert_array_equal(y, np.arange(16, dtype=np.float32).reshape(4, 4))
