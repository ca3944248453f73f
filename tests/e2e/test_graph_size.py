"""A structural guard on the default graphs' size: node counts per operator type for a tiny BERT, a Llama with a cache
and a T5 decoder with a cache, against the counts recorded in tests/fixtures/node_counts.json. A change that adds
nodes fails here (ONNX Runtime runs every node on every call); one that removes nodes passes, and the test names the
new counts to record. Structure, not timing: the same on every machine."""

import json
from collections import Counter
from pathlib import Path

import onnx
import pytest

from transformers_export import export_model

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "node_counts.json"
GRAPHS = {
    "bert-sequence-classification": ("bert", "sequence-classification", "sequence-classification", "model.onnx"),
    "llama-causal-lm-with-past": ("llama", "causal-lm", "causal-lm-with-past", "model.onnx"),
    "t5-decoder-with-past": ("t5", "seq2seq-lm", "seq2seq-lm-with-past", "decoder_model.onnx"),
}


def node_counts(path: Path) -> dict[str, int]:
    model = onnx.load(str(path), load_external_data=False)
    counts = Counter(node.op_type for node in model.graph.node)
    counts.update(node.op_type for function in model.functions for node in function.node)
    return dict(sorted(counts.items()))


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_default_graphs_do_not_grow(name, tiny_checkpoint, tmp_path):
    model_type, checkpoint_feature, feature, file = GRAPHS[name]
    export_model(str(tiny_checkpoint(model_type, checkpoint_feature)), tmp_path / "out", feature=feature)
    counts = node_counts(tmp_path / "out" / file)
    recorded = json.loads(RECORDED.read_text())[name]
    grown = {op: (recorded.get(op, 0), count) for op, count in counts.items() if count > recorded.get(op, 0)}
    assert not grown, f"{name} has more nodes than recorded (recorded, now): {grown}; all now: {counts}"
    if counts != recorded:  # fewer: the guard tightens when the new counts are recorded
        print(f"{name}: fewer nodes than recorded; record {json.dumps(counts)} in {RECORDED.name}")
