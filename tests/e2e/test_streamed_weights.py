"""Checkpoints above `streamed.STREAM_ABOVE` are never loaded: the trace sees placeholders, each weight is read from
the safetensors shards once and written converted or quantized, and the PyTorch references run module by module.
At small scale: a ~50M-parameter bf16 Llama in 3 shards, with the limit lowered so that it streams."""

import json
import weakref

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from transformers_export import export_model
from transformers_export.pipeline import ExportRequest, run_export
from transformers_export.resolve import loading, streamed
from process_memory import resident_bytes


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=16000,
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sharded")
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder, max_shard_size="40MB")
    assert len(json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]) > 50
    assert len(list(folder.glob("model-*-of-*.safetensors"))) >= 3
    return folder


@pytest.fixture
def streaming(monkeypatch):
    """Streams every checkpoint, and fails the test if anything loads one instead."""

    def never_load(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded instead of streamed")

    monkeypatch.setattr(streamed, "STREAM_ABOVE", 0)
    monkeypatch.setattr(loading, "load_model", never_load)


def _node_weights(path):
    """Every initializer a node reads, in node order: two graphs that differ only in names compare equal."""
    proto = onnx.load(str(path))
    values = {tensor.name: numpy_helper.to_array(tensor) for tensor in proto.graph.initializer}
    return [(node.op_type, values[name]) for node in proto.graph.node for name in node.input if name in values]


@pytest.mark.parametrize("quantize", [None, "int4-weight", "int8-weight"])
def test_a_streamed_export_writes_the_loaded_exports_weights_bit_for_bit(sharded, tmp_path, monkeypatch, quantize):
    options = {"feature": "causal-lm-with-past", "quantize": quantize}
    loaded = export_model(str(sharded), tmp_path / "loaded", **options)
    with monkeypatch.context() as patch:
        patch.setattr(streamed, "STREAM_ABOVE", 0)
        patch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("loaded instead of streamed"))
        stream = export_model(str(sharded), tmp_path / "streamed", **options)
    assert loaded.validation.passed and stream.validation.passed
    ours, theirs = (
        _node_weights(tmp_path / "streamed" / "model.onnx"),
        _node_weights(tmp_path / "loaded" / "model.onnx"),
    )
    assert len(ours) == len(theirs) > 60
    for (op, value), (expected_op, expected) in zip(ours, theirs):
        assert op == expected_op and value.dtype == expected.dtype and np.array_equal(value, expected), op
    if quantize is None:  # the float export is checked at the default tolerance, like a loaded one
        differences = [[check.max_abs_diff for check in run.outputs] for run in stream.validation.runs]
        assert differences == [[check.max_abs_diff for check in run.outputs] for run in loaded.validation.runs]


def test_module_by_module_references_equal_the_loaded_models(sharded):
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.cache_utils import DynamicCache

    config = AutoConfig.from_pretrained(sharded)
    before = resident_bytes()
    model, weights = streamed.build_streamed(
        AutoModelForCausalLM, config, torch.float32, streamed.CheckpointTensors(sharded)
    )
    placeholders = {name: p.data_ptr() for name, p in model.named_parameters()}
    # a sum reads every placeholder, as a trace does: the zero pages it maps are not resident
    assert sum(float(p.sum()) for p in model.parameters()) == 0.0
    assert resident_bytes() - before < streamed.CheckpointTensors(sharded).count() * 4 / 10, "placeholders hold memory"
    reference = AutoModelForCausalLM.from_pretrained(sharded, dtype=torch.float32).eval()
    ids = torch.randint(0, 16000, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, past_key_values=DynamicCache(config=config))
        with streamed.materialized(model, weights):
            ours = model(input_ids=ids, attention_mask=mask, past_key_values=DynamicCache(config=config))
    assert torch.equal(ours.logits, expected.logits)
    for layer, expected_layer in zip(ours.past_key_values.layers, expected.past_key_values.layers):
        assert torch.equal(layer.keys, expected_layer.keys) and torch.equal(layer.values, expected_layer.values)
    assert {name: p.data_ptr() for name, p in model.named_parameters()} == placeholders, "weights stayed after it"


@pytest.mark.parametrize("quantize", [None, "int4-weight"])
def test_no_stage_holds_more_than_one_weight(sharded, tmp_path, streaming, monkeypatch, quantize):
    """Every value read from the checkpoint is tracked until it is freed: at no point of the export (trace, write,
    references, quantization) are two alive, so memory cannot grow with the model."""
    live, peak = [0], [0]
    real_value = streamed.StreamedWeights.value

    def tracked(self, parameter, buffers=None):
        value = real_value(self, parameter, buffers)
        live[0] += value.nbytes
        peak[0] = max(peak[0], live[0])
        weakref.finalize(value, lambda size=value.nbytes: live.__setitem__(0, live[0] - size))
        return value

    monkeypatch.setattr(streamed.StreamedWeights, "value", tracked)
    pools = []
    real_init = streamed._Buffers.__init__
    monkeypatch.setattr(streamed._Buffers, "__init__", lambda self: (real_init(self), pools.append(self))[0])
    progress = {}
    request = ExportRequest(
        model=str(sharded), output=tmp_path / "out", feature="causal-lm-with-past", quantize=quantize
    )
    result = run_export(
        request, on_progress=lambda stage, done, total, unit: progress.setdefault(stage, []).append((done, total))
    )
    assert result.validation.passed
    largest = 16000 * 512 * 4
    total = streamed.CheckpointTensors(sharded).count() * 4
    assert peak[0] <= largest < total / 5, f"{peak[0]} bytes of weights were alive at once"
    assert live[0] == 0
    # the forwards' reusable memory: one fp32 weight and one bf16 one at most (the largest, the LM head)
    assert pools and all(pool.peak <= largest * 1.5 for pool in pools), [pool.peak for pool in pools]
    written = "quantize" if quantize else "trace"
    assert progress[written][-1][0] == progress[written][-1][1] >= total, "progress did not count every weight"
    assert len(progress[written]) > 50


def test_a_checkpoint_missing_a_weight_falls_back_to_loading_with_the_untrained_head_warning(
    tmp_path, monkeypatch, caplog
):
    from safetensors.torch import load_file, save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=500,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path / "ckpt")
    tensors = load_file(tmp_path / "ckpt" / "model.safetensors")
    del tensors["lm_head.weight"]
    save_file(tensors, tmp_path / "ckpt" / "model.safetensors", metadata={"format": "pt"})
    monkeypatch.setattr(streamed, "STREAM_ABOVE", 0)
    caplog.set_level("INFO")
    assert export_model(str(tmp_path / "ckpt"), tmp_path / "out", feature="causal-lm").validation.passed
    assert (
        "loading the model instead of streaming its weights: 'lm_head.weight' is not in the checkpoint" in caplog.text
    )
    assert "the exported 'causal-lm' head is untrained" in caplog.text


def test_shards_linked_from_a_blob_store_stream_like_the_hub_cache(sharded, tmp_path, streaming):
    """The hub cache keeps `snapshots/<revision>/model-0000k-of-0000n.safetensors` as links to `blobs/<sha>` two
    levels up; the index's names stay inside the folder even though the files they resolve to do not."""
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "abc123"
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    for number, path in enumerate(sorted(sharded.iterdir())):
        blob = blobs / f"{number:040x}"
        blob.write_bytes(path.read_bytes())
        (snapshot / path.name).symlink_to(blob)
    result = export_model(str(snapshot), tmp_path / "out", feature="causal-lm")
    assert result.validation.passed


def test_a_hub_id_streams_from_its_download_cache(sharded, tmp_path, streaming, monkeypatch):
    """A hub id is streamed from the download cache's snapshot folder, as loading would read it; here the hub cannot
    be reached, so only the cache is read (`models--org--name/snapshots/<revision>`, named by `refs/main`)."""
    from transformers_export.resolve import hub

    monkeypatch.setattr(hub, "hub_reachable", lambda: "cannot connect (test)")
    repository = tmp_path / "cache" / "models--someone--sharded-llama"
    snapshot = repository / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text("0" * 40)
    for path in sharded.iterdir():
        (snapshot / path.name).symlink_to(path)
    result = export_model(
        "someone/sharded-llama", tmp_path / "out", feature="causal-lm", cache_dir=str(tmp_path / "cache")
    )
    assert result.validation.passed
