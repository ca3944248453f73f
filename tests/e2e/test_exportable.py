"""The traced wrapper: argument names kept, patches always unwound, report wording per format."""

import pytest
import torch

from transformers_export import export_model
from transformers_export.config import PatchingSpec
from transformers_export.formats.exportable import argument_name
from transformers_export.validation.report import OutputCheck, ShapeRun, ValidationReport


def test_argument_names():
    assert argument_name("input_ids") == "input_ids"
    assert argument_name("past_key_values.0.encoder.key") == "past_key_values_0_encoder_key"
    assert argument_name("1st") == "input_1st"


def test_torchscript_schema_keeps_argument_names_and_takes_keywords(tiny_checkpoint, tmp_path):
    export_model(str(tiny_checkpoint("bert")), tmp_path / "out", format="torchscript")
    loaded = torch.jit.load(str(tmp_path / "out" / "model.pt"))
    schema = str(loaded.forward.schema)
    assert "Tensor input_ids, Tensor attention_mask, Tensor token_type_ids" in schema
    ids = torch.randint(0, 99, (1, 5))
    ones, zeros = torch.ones_like(ids), torch.zeros_like(ids)
    by_name = loaded(input_ids=ids, attention_mask=ones, token_type_ids=zeros)
    by_position = loaded(ids, ones, zeros)
    assert isinstance(by_name, tuple) and torch.equal(by_name[0], by_position[0])


def test_exported_program_takes_keywords(tiny_checkpoint, tmp_path):
    from transformers_export.formats.pytorch import load

    export_model(str(tiny_checkpoint("bert")), tmp_path / "out", format="exported-program")
    ids = torch.randint(0, 99, (3, 6))
    ones, zeros = torch.ones_like(ids), torch.zeros_like(ids)
    program = torch.export.load(str(tmp_path / "out" / "model.pt2")).module()
    by_name = program(input_ids=ids, attention_mask=ones, token_type_ids=zeros)
    assert isinstance(by_name, tuple) and by_name[0].shape == (3, 6, 32)
    loaded = load(tmp_path / "out" / "model.pt2", "exported-program")
    assert torch.equal(loaded(ids, ones, zeros)[0], by_name[0])
    assert torch.equal(loaded(ids, attention_mask=ones, token_type_ids=zeros)[0], by_name[0])


class _Target:
    first = "first"
    second = "second"


def test_patch_that_fails_part_way_is_undone(tiny_checkpoint):
    from transformers import AutoModel

    from transformers_export.features import FeaturesManager

    model = AutoModel.from_pretrained(tiny_checkpoint("bert"))
    specs = [PatchingSpec(_Target, "first", "patched"), PatchingSpec(_Target, "second", "patched", op_wrapper=lambda op: 1 / 0)]
    config = FeaturesManager.get_config("bert", "default")(model.config)
    config._patching_specs = specs
    use_cache = getattr(model.config, "use_cache", "absent")
    with pytest.raises(ZeroDivisionError):
        with config.patched(model):
            pass
    assert _Target.first == "first" and _Target.second == "second"
    assert getattr(model.config, "use_cache", "absent") == use_cache


@pytest.mark.parametrize(
    "artifact,runtime",
    [("ONNX model", "ONNX Runtime"), ("TorchScript model", "TorchScript"), ("ExportedProgram", "torch.export")],
)
def test_report_names_the_format(artifact, runtime):
    failed = ValidationReport(atol=1e-5, artifact=artifact, runtime=runtime, runs=[ShapeRun({"batch": 3}, ["logits"], [], runtime_error="boom")])
    assert failed.error.startswith(f"{runtime} failed on inputs batch=3: boom")
    assert failed.lines()[1] == f"\t-[x] {runtime} failed: boom"
    renamed = ValidationReport(atol=1e-5, artifact=artifact, runtime=runtime, runs=[ShapeRun({"batch": 3}, ["logits"], ["scores"])])
    assert f"output names of the {artifact} do not match" in renamed.error and "missing ['logits']" in renamed.error
    check = OutputCheck("logits", [3], [3], 0.5, 1e-5)
    wrong = ValidationReport(atol=1e-5, artifact=artifact, runtime=runtime, runs=[ShapeRun({"batch": 3}, ["logits"], ["logits"], [check])])
    assert f"output 'logits' of the {artifact} differs from PyTorch" in wrong.error
    assert "ONNX" not in wrong.error or artifact == "ONNX model"


def test_booleans_that_torch_counts_as_integers_get_a_cast_in_the_onnx_graph(tmp_path):
    """`(mask.cumsum(-1) == zeros_like(mask)).sum(-1)` on a bool mask (transformers' chunked attention) is valid torch;
    the trace engine writes a CumSum of a bool and an Equal of an int64 and a bool, which ONNX Runtime refuses to
    load until the export puts casts in front."""
    import numpy as np
    import onnx
    import onnxruntime

    from transformers_export.formats.onnx.trace_gaps import count_bools_as_integers

    class LeftPadding(torch.nn.Module):
        def forward(self, mask):
            mask = mask.bool()
            return (mask.cumsum(dim=-1) == torch.zeros_like(mask)).sum(dim=-1)

    path = tmp_path / "left_padding.onnx"
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    torch.onnx.export(LeftPadding(), (mask,), str(path), dynamo=False, input_names=["mask"], opset_version=17)
    with pytest.raises(Exception, match="CumSum|Equal"):
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    proto = onnx.load(str(path))
    assert count_bools_as_integers(proto)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"mask": mask.numpy()})[0], [2, 0])


def test_repeat_interleave_exports_with_the_sizes_read_at_run_time(tmp_path):
    """torch's trace exporter bakes the traced sizes into `repeat_interleave(2, dim=-1)` (interleaved rotary
    embeddings: Helium, Cohere, Ernie 4.5); inside `traceable_ops` the same values come out at any other size, and
    the original methods are back afterwards."""
    import numpy as np
    import onnxruntime

    from transformers_export.formats.onnx.trace_gaps import traceable_ops

    class Interleave(torch.nn.Module):
        def forward(self, x):
            return x.repeat_interleave(2, dim=-1), torch.repeat_interleave(x, 2, dim=1)

    method = torch.Tensor.repeat_interleave
    path = tmp_path / "interleave.onnx"
    with traceable_ops("trace"):
        torch.onnx.export(Interleave(), (torch.randn(2, 3, 4),), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch", 1: "sequence", 2: "width"}}, opset_version=17)
    assert torch.Tensor.repeat_interleave is method
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fresh = torch.randn(3, 5, 6)
    for got, expected in zip(session.run(None, {"x": fresh.numpy()}), Interleave()(fresh)):
        np.testing.assert_array_equal(got, expected.numpy())
