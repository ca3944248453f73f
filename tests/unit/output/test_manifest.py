"""export.json as a contract: the reader refuses what it cannot trust, in one line, and answers by graph role."""

import json

import pytest

from transformers_export.errors import CheckpointError
from transformers_export.output.manifest import LAYOUTS, MANIFEST, VERSION, read_manifest, tensor_entry, write_manifest


def _graph(role):
    return {
        "role": role,
        "inputs": {"input_ids": tensor_entry({0: "batch", 1: "sequence"}, "int64", "input_ids")},
        "outputs": {"logits": tensor_entry({0: "batch"}, "float32")},
        "external_data": None,
        "engine": "trace",
        "opset": 17,
    }


def _write(folder, **data):
    write_manifest(
        folder,
        {
            "format": "onnx",
            "feature": "seq2seq-lm-with-past",
            "layout": LAYOUTS[1],
            "graphs": {"encoder_model.onnx": _graph("encoder"), "decoder_model.onnx": _graph("decoder")},
            **data,
        },
    )


def test_written_manifest_reads_back_with_typed_views(tmp_path):
    _write(tmp_path)
    manifest = read_manifest(tmp_path)
    assert manifest.format == "onnx" and manifest.feature == "seq2seq-lm-with-past"
    assert manifest.has_role("encoder") and not manifest.has_role("vision")
    assert manifest.path("decoder") == tmp_path / "decoder_model.onnx"
    assert manifest.role("encoder").inputs["input_ids"].axes == {0: "batch", 1: "sequence"}
    assert json.loads((tmp_path / MANIFEST).read_text())["manifest_version"] == VERSION


def test_a_missing_role_names_the_roles_there_are(tmp_path):
    _write(tmp_path)
    with pytest.raises(CheckpointError, match=r"has no vision graph \(it has: decoder, encoder\)"):
        read_manifest(tmp_path).role("vision")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not a folder written by transformers-export"),
        ("{not json", "is not valid JSON"),
        (json.dumps({"manifest_version": 1}), "has manifest version 1"),
        (json.dumps([1, 2]), "has manifest version None"),
    ],
)
def test_unreadable_manifests_are_one_line_errors(tmp_path, content, message):
    if content is not None:
        (tmp_path / MANIFEST).write_text(content)
    with pytest.raises(CheckpointError, match=message) as raised:
        read_manifest(tmp_path)
    assert "\n" not in str(raised.value)


def test_a_file_instead_of_the_folder_says_so(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is a file; pass the exported folder"):
        read_manifest(tmp_path / "model.onnx")


def _valid():
    return {
        "manifest_version": VERSION,
        "format": "onnx",
        "feature": "default",
        "layout": LAYOUTS[0],
        "files": ["model.onnx", MANIFEST],
        "graphs": {"model.onnx": _graph("model")},
    }


def _tampered(change):
    data = _valid()
    change(data)
    return data


@pytest.mark.parametrize(
    "data, message",
    [
        (_tampered(lambda d: d.pop("graphs")), "'graphs' is missing or empty"),
        (_tampered(lambda d: d.update(graphs={})), "'graphs' is missing or empty"),
        (_tampered(lambda d: d.pop("feature")), "'feature' is missing or not a string"),
        (_tampered(lambda d: d.update(graphs={"../../etc/model.onnx": _graph("model")})), "leaves the folder"),
        (_tampered(lambda d: d.update(graphs={"/tmp/model.onnx": _graph("model")})), "leaves the folder"),
        (_tampered(lambda d: d["graphs"]["model.onnx"].update(external_data="../weights")), "external data path"),
        (_tampered(lambda d: d["graphs"]["model.onnx"].pop("inputs")), "has no 'inputs'"),
        (_tampered(lambda d: d["graphs"]["model.onnx"]["outputs"].update(logits=[])), "has no axes"),
        (_tampered(lambda d: d["graphs"]["model.onnx"]["outputs"].update(logits={"axes": {"x": "b"}})), "not a number"),
        (_tampered(lambda d: d.update(files=["../../home/user/file"])), "'files' holds a path that leaves"),
        (_tampered(lambda d: d.update(graphs=[1])), "'graphs' is missing or empty"),
    ],
)
def test_a_tampered_manifest_is_refused_in_one_line(tmp_path, data, message):
    (tmp_path / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=message) as raised:
        read_manifest(tmp_path)
    assert "\n" not in str(raised.value) and "is damaged" in str(raised.value)


def test_a_manifest_nested_past_the_parser_is_refused(tmp_path):
    (tmp_path / MANIFEST).write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        read_manifest(tmp_path)


def test_a_huge_manifest_is_not_read_whole(tmp_path, monkeypatch):
    from transformers_export.output import manifest

    monkeypatch.setattr(manifest, "MANIFEST_LIMIT", 1000)
    (tmp_path / MANIFEST).write_text(json.dumps({**_valid(), "padding": "x" * 2000}))
    with pytest.raises(CheckpointError, match="is larger than"):
        read_manifest(tmp_path)


def test_unchanged_tells_a_replaced_manifest(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps(_valid()))
    manifest = read_manifest(tmp_path)
    assert manifest.unchanged()
    replacement = tmp_path / "new.json"
    replacement.write_text(json.dumps(_valid()))
    replacement.replace(tmp_path / MANIFEST)  # what a commit does: same bytes, another file
    assert not manifest.unchanged()
    (tmp_path / MANIFEST).unlink()
    assert not manifest.unchanged()
