"""The default tolerance passes correct exports and fails real faults seeded into the exported graph.

Each fault is a small edit of the written ONNX graph, made between tracing and validation; the export must then fail
with exit code 3 at the default settings, and nothing may be written.
"""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from transformers_export import export_model
from transformers_export.errors import ValidationError
from transformers_export.validation.report import Tolerance


def test_bound_is_relative_to_the_largest_magnitude():
    tolerance = Tolerance(atol=1e-5, rtol=5e-5)
    assert tolerance.bound(np.array([-4.0, 1.0])) == pytest.approx(1e-5 + 2e-4)
    assert tolerance.bound(np.zeros(0)) == 1e-5


def _scale_one_layer_weight(proto):
    """One MLP weight matrix of one layer times 1 + 1e-3."""
    target = next(t for t in proto.graph.initializer if "layers.1" in t.name and "mlp" in t.name or "h.1.mlp" in t.name)
    scaled = numpy_helper.to_array(target) * np.float32(1 + 1e-3)
    target.CopyFrom(numpy_helper.from_array(scaled.astype(np.float32), target.name))


def _shift_positions(proto):
    """position_ids + 1 everywhere they are read."""
    graph = proto.graph
    for node in graph.node:
        node.input[:] = ["position_ids_shifted" if name == "position_ids" else name for name in node.input]
    graph.initializer.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "one_for_fault"))
    graph.node.insert(0, helper.make_node("Add", ["position_ids", "one_for_fault"], ["position_ids_shifted"]))


def _swap_key_and_value(proto):
    """The first layer's cache outputs swapped."""
    for output in proto.graph.output:
        if output.name == "present.0.key":
            output.name = "present.0.value"
        elif output.name == "present.0.value":
            output.name = "present.0.key"
    for node in proto.graph.node:
        node.output[:] = [
            {"present.0.key": "present.0.value", "present.0.value": "present.0.key"}.get(name, name)
            for name in node.output
        ]


def _drop_attention_mask(proto):
    """The attention mask replaced by ones of its shape."""
    graph = proto.graph
    for node in graph.node:
        node.input[:] = ["mask_of_ones" if name == "attention_mask" else name for name in node.input]
    graph.node.insert(0, helper.make_node("Shape", ["attention_mask"], ["mask_shape"]))
    graph.node.insert(
        1,
        helper.make_node(
            "ConstantOfShape",
            ["mask_shape"],
            ["mask_of_ones"],
            value=numpy_helper.from_array(np.array([1], dtype=np.int64)),
        ),
    )


FAULTS = [
    ("llama", "causal-lm-with-past", _scale_one_layer_weight),
    (
        "gpt2",
        "causal-lm-with-past",
        _shift_positions,
    ),  # absolute positions: a shift changes the outputs (RoPE is shift-invariant)
    ("llama", "causal-lm-with-past", _swap_key_and_value),
    ("llama", "causal-lm", _drop_attention_mask),
]


@pytest.mark.parametrize("model_type,feature,fault", FAULTS, ids=[fault.__name__.strip("_") for _, _, fault in FAULTS])
def test_seeded_fault_fails_at_the_default_tolerance(
    model_type, feature, fault, tiny_checkpoint, tmp_path, monkeypatch
):
    from transformers_export.formats.onnx import convert

    real_export = convert.export_onnx

    def export_with_fault(*args, **kwargs):
        written = real_export(*args, **kwargs)
        proto = onnx.load(str(written.path))
        fault(proto)
        onnx.save(proto, str(written.path))
        return written

    folder = tiny_checkpoint(model_type, feature)
    assert export_model(str(folder), tmp_path / "correct", feature=feature).validation.passed
    monkeypatch.setattr(convert, "export_onnx", export_with_fault)
    with pytest.raises(ValidationError):
        export_model(str(folder), tmp_path / "faulty", feature=feature)
    assert not (tmp_path / "faulty").exists()


STREAMED_FAULTS = [(model_type, feature, fault) for model_type, feature, fault in FAULTS if model_type == "llama"]


@pytest.mark.parametrize(
    "model_type,feature,fault", STREAMED_FAULTS, ids=[f.__name__.strip("_") for _, _, f in STREAMED_FAULTS]
)
def test_seeded_fault_fails_when_the_checkpoint_is_streamed(
    model_type, feature, fault, tiny_checkpoint, tmp_path, monkeypatch
):
    """The same faults, with the weights streamed from the checkpoint and the references computed module by module."""
    from transformers_export.formats.onnx import convert
    from transformers_export.resolve import loading, streamed

    def never_load(*args, **kwargs):
        raise AssertionError("the checkpoint was loaded instead of streamed")

    monkeypatch.setattr(streamed, "STREAM_ABOVE", 0)
    monkeypatch.setattr(loading, "load_model", never_load)
    real_export = convert.export_onnx

    def export_with_fault(*args, **kwargs):
        written = real_export(*args, **kwargs)
        proto = onnx.load(str(written.path))
        fault(proto)
        onnx.save(proto, str(written.path))
        return written

    folder = tiny_checkpoint(model_type, feature)
    assert export_model(str(folder), tmp_path / "correct", feature=feature).validation.passed
    monkeypatch.setattr(convert, "export_onnx", export_with_fault)
    with pytest.raises(ValidationError):
        export_model(str(folder), tmp_path / "faulty", feature=feature)
    assert not (tmp_path / "faulty").exists()
