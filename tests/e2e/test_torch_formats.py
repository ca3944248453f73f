"""TorchScript and torch.export formats over the whole registry, plus the tracer hook, specialisation and errors."""

import json

import pytest
import torch

from transformers_export import cli, export_model
from transformers_export.architectures import all_specs
from transformers_export.errors import TraceError, ValidationError
from transformers_export.formats.exportable import named_outputs
from transformers_export.resolve.plan import ExportRequest, resolve
from transformers_export.formats.pytorch import load
from transformers_export.layouts import LAYOUTS
from transformers_export.output.manifest import LAYOUTS as LAYOUT_NAMES

# Every architecture, through its base feature and its generating feature: what differs between formats is tracing
# the model body and the cache, not the task heads (those are covered per feature by the ONNX matrix).
PAIRS = [
    (spec.model_type, feature)
    for spec in all_specs()
    for feature in spec.features
    if feature == spec.features[0] or feature in ("causal-lm-with-past", "seq2seq-lm-with-past")
]
# and the seed's single graph with a cache, for the two encoder-decoder families
CASES = [(*pair, None) for pair in PAIRS] + [(m, "seq2seq-lm-with-past", "monolith") for m in ("t5", "bart")]
FORMATS = ("torchscript", "exported-program")
# Exports that torch.export specialises, each checked to fail with that reason (README, Limits)
SPECIALISED = {
    ("wavlm", "exported-program"): "Guard failed",  # WavLM's relative position buckets, at batch 1
    ("moonshine", "exported-program"): "Guard failed",  # at least 1279 samples (80 ms): the validation's 1040 are fewer
    ("sew", "exported-program"): "Guard failed",  # the padding of odd frame counts: guarded to the traced parity
}
# Graphs these formats do not capture, each checked to fail with a TraceError that says so (README, Limits): the
# Qwen2-VL-style vision towers split their attention by lengths computed from the patch grid (data-dependent for
# torch.export), and Gemma 3's decoder with its token-type mask
PATCH_GRID_FAMILIES = ("qwen2_vl", "qwen2_5_vl", "glm4v", "glm46v", "glm_ocr", "glmga")
NOT_CAPTURED = {
    **{(family, "exported-program"): "tracing PatchVisionGraph for exported-program failed" for family in PATCH_GRID_FAMILIES},
    ("gemma3", "torchscript"): "tracing DecoderGraph for torchscript failed",
    ("gemma3", "exported-program"): "tracing DecoderGraph for exported-program failed",
}


def _default_layout(feature: str) -> str:
    """What the registry picks when no layout is asked for, spelled out: encoder-decoders with a cache get two
    graphs, image-text-to-text gets three, everything else one."""
    monolith, generation, vision_language, _merged = LAYOUT_NAMES
    if feature.startswith("image-text-to-text"):
        return vision_language
    return generation if feature in ("seq2seq-lm-with-past", "speech2seq-lm-with-past") else monolith


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize(
    "model_type,feature,layout", CASES, ids=[f"{m}-{f}" + (f"-{layout}" if layout else "") for m, f, layout in CASES]
)
def test_torch_format_round_trip(model_type, feature, layout, format, tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(model_type, feature)
    if (model_type, format) in NOT_CAPTURED:
        with pytest.raises(TraceError, match=NOT_CAPTURED[model_type, format]):
            export_model(str(folder), tmp_path / "out", feature=feature, format=format, layout=layout)
        assert not (tmp_path / "out").exists()
        return
    if (model_type, format) in SPECIALISED:
        with pytest.raises(ValidationError, match=SPECIALISED[model_type, format]):
            export_model(str(folder), tmp_path / "out", feature=feature, format=format, layout=layout)
        assert not (tmp_path / "out").exists()
        return
    result = export_model(str(folder), tmp_path / "out", feature=feature, format=format, layout=layout)
    assert result.layout == (layout or _default_layout(feature))
    assert result.validation.passed
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["layout"] == result.layout
    assert sorted(g["role"] for g in manifest["graphs"].values()) == sorted(LAYOUTS[result.layout].roles)
    assert manifest["format"] == format
    if format == "exported-program":
        assert result.validation.specialized_to is None, "torch.export programs must run at every shape"
    # our own check, after a save/load round trip, on a shape neither the trace nor the validator used
    plan = resolve(ExportRequest(str(folder), tmp_path / "unused", feature=feature, format=format, layout=layout))
    sizes = dict(batch_size=4, seq_length=7, num_choices=2, past_length=3, decoder_length=2)
    if result.validation.specialized_to:
        sizes = dict(batch_size=2, seq_length=8, num_choices=4, past_length=5, decoder_length=5)
    graphs = [(graph.name + plan.backend.suffix, graph.module, graph.config) for graph in plan.graphs]
    for name, module, config in graphs:
        config.bind_model(module)
        inputs = config.generate_dummy_inputs(None, **sizes)
        loaded = load(tmp_path / "out" / name, format)
        with torch.no_grad(), config.patched(module):
            expected = named_outputs(module(**config.model_inputs(inputs, module), return_dict=True), list(config.outputs), config)
            got = loaded(*(inputs[n] for n in config.inputs))
        assert len(got) == len(expected)
        for (output_name, reference), value in zip(expected.items(), got):
            torch.testing.assert_close(value, reference, atol=config.atol_for_validation * 10, rtol=1e-4, msg=output_name)


def test_tracer_hook_replaces_torch_jit_trace(tiny_checkpoint, tmp_path, capsys):
    import recording_tracer

    recording_tracer.CALLS.clear()
    out = tmp_path / "neuron-style"
    argv = ["-m", str(tiny_checkpoint("bert")), "--format", "torchscript", "--tracer", "recording_tracer:trace", str(out)]
    assert cli.main(argv) == 0
    assert len(recording_tracer.CALLS) == 1 and recording_tracer.CALLS[0] == [(2, 8), (2, 8), (2, 8)]
    assert (out / "model.pt").is_file()


def test_untie_weights_clones_tied_embeddings(tiny_checkpoint, tmp_path, caplog):
    folder = tiny_checkpoint("gpt2", "causal-lm")
    result = export_model(str(folder), tmp_path / "out", feature="causal-lm", format="torchscript", untie_weights=True)
    assert "do not train this model" in caplog.text, "a logged notice (one line in the CLI), not a Python warning"
    assert result.validation.passed
    loaded = torch.jit.load(str(tmp_path / "out" / "model.pt"))
    weights = [p for name, p in loaded.named_parameters() if name.endswith(("wte.weight", "lm_head.weight"))]
    assert len(weights) == 2 and weights[0].data_ptr() != weights[1].data_ptr()
    torch.testing.assert_close(weights[0], weights[1])


def test_specialised_trace_is_kept_and_reported(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    from transformers.models.bert import modeling_bert

    original = modeling_bert.BertModel.forward

    def forward_with_python_int(self, input_ids=None, **kwargs):
        output = original(self, input_ids=input_ids, **kwargs)
        # int() freezes the traced sequence length into the graph, as shape-dependent Python code does
        output.last_hidden_state = output.last_hidden_state[:, : int(input_ids.shape[1])] * 1.0
        return output

    monkeypatch.setattr(modeling_bert.BertModel, "forward", forward_with_python_int)
    out = tmp_path / "ts"
    argv = ["-m", str(tiny_checkpoint("bert")), "--format", "torchscript", "--sequence-length", "6", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "this trace only runs at the shape it was traced at (batch=2, sequence=6)" in printed
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["validation"]["specialized_to"] == {"batch": 2, "sequence": 6}
    # torch.export refuses code that fixes a dynamic size, rather than keeping a specialised program
    from transformers_export import TraceError

    with pytest.raises(TraceError, match="exported-program failed: Constraints violated"):
        export_model(str(tiny_checkpoint("bert")), tmp_path / "ep", format="exported-program")
    assert not (tmp_path / "ep").exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--format", "torchscript", "--opset", "17"], "--opset applies to --format onnx only"),
        (["--format", "exported-program", "--engine", "dynamo"], "--engine applies to --format onnx only"),
        (["--tracer", "torch.jit:trace"], "--tracer applies to --format torchscript only"),
        (["--format", "torchscript", "--tracer", "no_such_sdk:trace"], "cannot import 'no_such_sdk'"),
        (["--format", "torchscript", "--tracer", "torch.jit"], "--tracer takes module:function"),
        (["--format", "torchscript", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_format_option_errors(extra, message, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["-m", str(tiny_checkpoint("bert")), *extra, str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not out.exists()


def test_architecture_patches_are_restored(tiny_checkpoint, tmp_path):
    from transformers.models.bloom.modeling_bloom import BloomGelu

    original = BloomGelu.forward
    export_model(str(tiny_checkpoint("bloom")), tmp_path / "out", format="torchscript")
    assert BloomGelu.forward is original
