"""TensorFlow checkpoints (tests/fixtures/tf, written by transformers 4.57 + TensorFlow 2.18) without TensorFlow."""

import shutil
from pathlib import Path

import h5py
import numpy as np
import onnxruntime
import pytest
import torch

from transformers_export import cli, export_model
from transformers_export.resolve.tf_checkpoint import convert_tf_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
# fixture -> the feature whose ONNX export reproduces the TF model's outputs
FEATURES = {
    "bert": "default",
    "roberta_seqcls": "sequence-classification",
    "gpt2_lmhead": "causal-lm",
    "t5_condgen": "seq2seq-lm",
    "bart_condgen": "seq2seq-lm",
    "vit_imgcls": "image-classification",
}


@pytest.fixture(scope="module", params=sorted(FEATURES))
def fixture(request):
    folder = FIXTURES / request.param
    if not folder.is_dir():
        pytest.fail(f"missing fixture {folder}")
    return request.param, folder


def fixture_inputs(folder: Path) -> dict[str, np.ndarray]:
    return dict(np.load(folder / "inputs.npz"))


def test_tf_weights_reproduce_the_tf_outputs(fixture, tmp_path):
    name, folder = fixture
    model = convert_tf_checkpoint(folder, tmp_path / "pt")
    with torch.no_grad():
        outputs = model(**{k: torch.from_numpy(v) for k, v in fixture_inputs(folder).items()})
    for key, expected in np.load(folder / "outputs.npz").items():
        assert np.abs(outputs[key].numpy() - expected).max() <= 1e-5, key
    assert (tmp_path / "pt" / "model.safetensors").is_file()


def test_tf_checkpoint_exports_to_onnx_that_matches_tf(fixture, tmp_path):
    name, folder = fixture
    feature = FEATURES[name]
    result = export_model(str(folder), tmp_path / "out", feature=feature)
    assert result.validation.passed
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = fixture_inputs(folder)
    feed = {}
    for graph_input in session.get_inputs():
        if graph_input.name in inputs:
            feed[graph_input.name] = inputs[graph_input.name]
        elif graph_input.name == "position_ids":  # the TF model counted positions from 0 on every row
            feed["position_ids"] = np.broadcast_to(
                np.arange(inputs["input_ids"].shape[1]), inputs["input_ids"].shape
            ).copy()
        elif graph_input.name == "decoder_attention_mask":
            feed["decoder_attention_mask"] = np.ones_like(inputs["decoder_input_ids"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    expected = np.load(folder / "outputs.npz")
    key = "logits" if "logits" in got else "last_hidden_state"
    assert np.abs(got[key] - expected[key]).max() <= 1e-5


def test_convert_tf_command_writes_a_pytorch_checkpoint(tmp_path, capsys):
    out = tmp_path / "pt"
    assert cli.main(["convert-tf", str(FIXTURES / "bert"), str(out)]) == 0
    assert {"config.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    from transformers import AutoModel

    model = AutoModel.from_pretrained(out).eval()
    inputs = fixture_inputs(FIXTURES / "bert")
    with torch.no_grad():
        hidden = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).last_hidden_state.numpy()
    assert np.abs(hidden - np.load(FIXTURES / "bert" / "outputs.npz")["last_hidden_state"]).max() <= 1e-5


def broken_copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(FIXTURES / "bert", folder)
    (folder / "tf_model.h5").chmod(0o644)
    with h5py.File(folder / "tf_model.h5", "r+") as handle:
        edit(handle)
    return folder


def _embeddings_group(handle):
    layer = handle.attrs["layer_names"][0]
    layer = layer.decode() if isinstance(layer, bytes) else layer
    return handle[layer], layer


def drop_tensor(handle):
    group, layer = _embeddings_group(handle)
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
    victim = next(n for n in names if "pooler/dense/bias" in n)
    del group[victim]
    group.attrs["weight_names"] = [n.encode() for n in names if n != victim]


def add_tensor(handle):
    group, layer = _embeddings_group(handle)
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
    extra = "tf_bert_model/bert/pooler/extra_projection/kernel:0"
    group.create_dataset(extra, data=np.zeros((32, 32), np.float32))
    group.attrs["weight_names"] = [n.encode() for n in [*names, extra]]


def reshape_tensor(handle):
    group, layer = _embeddings_group(handle)
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
    victim = next(n for n in names if "pooler/dense/kernel" in n)
    del group[victim]
    group.create_dataset(victim, data=np.zeros((32, 31), np.float32))


@pytest.mark.parametrize(
    "edit,message",
    [
        (drop_tensor, "no value for 1 tensor(s), e.g. pooler.dense.bias"),
        (add_tensor, "unused h5 tensors for 1 tensor(s)"),
        (reshape_tensor, "tensor tf_bert_model/bert/pooler/dense/kernel has shape (32, 31)"),
    ],
    ids=["missing", "extra", "wrong-shape"],
)
def test_broken_h5_is_a_one_line_error(edit, message, tmp_path, capsys):
    folder = broken_copy(tmp_path, edit)
    out = tmp_path / "out"
    assert cli.main(["-m", str(folder), str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err[-1]
    assert not out.exists()


def test_file_named_tf_model_h5_that_is_not_hdf5(tmp_path, capsys):
    folder = tmp_path / "fake"
    folder.mkdir()
    shutil.copy(FIXTURES / "bert" / "config.json", folder / "config.json")
    (folder / "tf_model.h5").write_text("this is not HDF5")
    out = tmp_path / "out"
    assert cli.main(["-m", str(folder), "--framework", "tf", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "is not a readable HDF5 file" in err[-1] and "Traceback" not in "\n".join(err)
    assert not out.exists()


def test_a_sharded_tf_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    """transformers 4 wrote TF checkpoints above its shard size as `tf_model-0000k-of-0000n.h5` with an index; the
    reader takes one `tf_model.h5`, and says so instead of failing to find PyTorch weights."""
    folder = tmp_path / "sharded"
    shutil.copytree(FIXTURES / "bert", folder)
    (folder / "tf_model.h5").rename(folder / "tf_model-00001-of-00001.h5")
    (folder / "tf_model.h5.index.json").write_text('{"weight_map": {}}')
    out = tmp_path / "out"
    assert cli.main(["-m", str(folder), str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1:] == [
        f"error: '{folder}' holds a sharded TensorFlow checkpoint (tf_model.h5.index.json), which is read only as "
        "one tf_model.h5; save it unsharded, or as PyTorch weights, with transformers 4 and TensorFlow"
    ], err
    assert not out.exists()
