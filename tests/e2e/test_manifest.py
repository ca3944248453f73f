"""export.json: written with the documented schema, read back by the runtime, refused when absent or stale."""

import json

import pytest

from transformers_export.errors import CheckpointError
from transformers_export.output.manifest import MANIFEST, VERSION, read_manifest, tensor_entry, write_manifest


def _example(tmp_path):
    write_manifest(
        tmp_path,
        {
            "format": "onnx",
            "feature": "seq2seq-lm-with-past",
            "layout": "generation",
            "graphs": {
                "encoder_model.onnx": {
                    "role": "encoder",
                    "inputs": {"input_ids": tensor_entry({0: "batch", 1: "encoder_sequence"}, "int64")},
                    "outputs": {"last_hidden_state": tensor_entry({0: "batch"}, "float32")},
                    "external_data": "model.onnx.data",
                },
                "decoder_model.onnx": {"role": "decoder", "inputs": {}, "outputs": {}},
            },
        },
    )


def test_written_manifest_reads_back_with_typed_views(tmp_path):
    _example(tmp_path)
    data = json.loads((tmp_path / MANIFEST).read_text())
    assert data["manifest_version"] == VERSION
    manifest = read_manifest(tmp_path)
    assert manifest.feature == "seq2seq-lm-with-past" and manifest.layout == "generation"
    assert manifest.path("decoder") == tmp_path / "decoder_model.onnx"
    encoder = manifest.role("encoder")
    assert (
        encoder.inputs["input_ids"].axes == {0: "batch", 1: "encoder_sequence"}
        and encoder.inputs["input_ids"].dtype == "int64"
    )
    assert encoder.external_data == "model.onnx.data"
    with pytest.raises(CheckpointError, match="has no model graph"):
        manifest.role("model")


def test_folder_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no export.json in .*not a folder written by transformers-export"):
        read_manifest(tmp_path)


def test_old_manifest_version_is_refused(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"manifest_version": 1, "graphs": {}}))
    with pytest.raises(CheckpointError, match="manifest version 1"):
        read_manifest(tmp_path)


def test_exported_manifest_lists_every_graph_with_axes_dtypes_and_arguments(tiny_checkpoint, tmp_path):
    from transformers_export import export_model

    export_model(
        str(tiny_checkpoint("gpt2", "causal-lm-with-past")),
        tmp_path / "ts",
        feature="causal-lm-with-past",
        format="torchscript",
    )
    manifest = read_manifest(tmp_path / "ts")
    graph = manifest.role("model")
    assert graph.file == "model.pt" and {"model.pt", "config.json", "export.json"} <= set(manifest.data["files"])
    assert set(manifest.data["files"]) == {p.name for p in (tmp_path / "ts").iterdir()}
    assert graph.inputs["past_key_values.1.value"].argument == "past_key_values_1_value"
    assert graph.inputs["past_key_values.1.value"].axes == {0: "batch", 2: "past_sequence"}
    assert graph.outputs["present.0.key"].dtype == "float32" and graph.outputs["logits"].axes == {
        0: "batch",
        1: "sequence",
    }
    assert manifest.data["validation"]["passed"] and manifest.data["architecture"] == "registered"


def test_a_local_source_is_recorded_by_its_folders_name_never_its_path(tiny_checkpoint, tmp_path):
    from transformers_export import export_model

    checkpoint = tiny_checkpoint("bert")
    export_model(str(checkpoint.resolve()), tmp_path / "out", feature="default")
    data = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert data["source"] == checkpoint.name and data["source_is_folder"] is True
    assert str(checkpoint.parent) not in (tmp_path / "out" / MANIFEST).read_text(), "no directory layout leaks"
