"""Weights streamed into the graph: one external file above the inline limit, aligned, each tensor once, Linear
weights stored pre-transposed, and the same outputs as the inline graph."""

import numpy as np
import onnx
import onnxruntime
from onnx.external_data_helper import uses_external_data

from transformers_export import export_model
from transformers_export.formats.onnx import weights


def _run(folder, feed):
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def test_external_weights_are_one_aligned_file_with_the_inline_outputs(tiny_checkpoint, tmp_path, monkeypatch):
    folder = tiny_checkpoint("llama", "causal-lm")  # tied embeddings? no: llama's head is its own weight
    inline = export_model(str(folder), tmp_path / "inline", feature="causal-lm")
    monkeypatch.setattr(weights, "INLINE_LIMIT", 0)
    external = export_model(str(folder), tmp_path / "external", feature="causal-lm")
    assert inline.validation.passed and external.validation.passed
    assert sorted(p.name for p in (tmp_path / "inline").iterdir() if ".onnx" in p.name) == ["model.onnx"]
    assert sorted(p.name for p in (tmp_path / "external").iterdir() if ".onnx" in p.name) == ["model.onnx", "model.onnx.data"]
    assert external.manifest["graphs"]["model.onnx"]["external_data"] == "model.onnx.data"

    graph = onnx.load(str(tmp_path / "external" / "model.onnx"), load_external_data=False).graph
    offsets = []
    for tensor in graph.initializer:
        if uses_external_data(tensor):
            entries = {entry.key: entry.value for entry in tensor.external_data}
            assert entries["location"] == "model.onnx.data"
            offsets.append((int(entries["offset"]), int(entries["length"])))
    assert offsets and all(offset % 64 == 0 for offset, _ in offsets)
    assert all(a + n <= b for (a, n), (b, _) in zip(sorted(offsets), sorted(offsets)[1:])), "tensors overlap"
    # Linear weights are stored transposed: no Transpose reads an initializer
    initializers = {tensor.name for tensor in graph.initializer}
    assert not [node for node in graph.node if node.op_type == "Transpose" and node.input[0] in initializers]
    # nothing was left as a graph input but the model's own inputs
    assert {i.name for i in graph.input} <= {"input_ids", "attention_mask", "position_ids"}

    ids = np.array([[5, 6, 7, 8, 9]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "position_ids": np.arange(5)[None]}
    np.testing.assert_array_equal(_run(tmp_path / "inline", feed)[0], _run(tmp_path / "external", feed)[0])


def test_tied_weights_are_written_once(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "INLINE_LIMIT", 0)
    folder = tiny_checkpoint("gpt2", "causal-lm")  # GPT-2 ties its head to the token embeddings
    export_model(str(folder), tmp_path / "out", feature="causal-lm")
    graph = onnx.load(str(tmp_path / "out" / "model.onnx"), load_external_data=False).graph
    parameters = sum(p.numel() * 4 for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(folder).parameters())
    assert (tmp_path / "out" / "model.onnx.data").stat().st_size <= parameters * 1.05
    assert graph.initializer
