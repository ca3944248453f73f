"""`--format aot-inductor`: a torch.export program compiled by AOTInductor, float and `--quantize int8`."""

import json
import zipfile

import torch

from transformers_export import cli, export_model
from transformers_export.formats.pytorch import load
from transformers_export.optimize.program_int8 import quantize_program


def _compiled_code(package):
    with zipfile.ZipFile(package) as archive:
        return "".join(archive.read(name).decode(errors="ignore") for name in archive.namelist() if name.endswith(".cpp"))


def test_float_package_validates_and_loads_with_argument_names(tiny_checkpoint, tmp_path):
    from transformers import AutoModel

    folder = tiny_checkpoint("bert")
    result = export_model(str(folder), tmp_path / "out", format="aot-inductor")
    assert result.validation.passed and result.graph_files == ["model.pt2"]
    assert sorted(path.name for path in (tmp_path / "out").glob("*.pt2")) == ["model.pt2"]  # no float program left
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["format"] == "aot-inductor"
    program = load(tmp_path / "out" / "model.pt2", "aot-inductor")
    ids = torch.randint(5, 90, (3, 13))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    with torch.no_grad():
        expected = AutoModel.from_pretrained(folder).eval()(input_ids=ids, attention_mask=mask).last_hidden_state
        by_name = program(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))[0]
        by_position = program(ids, mask, torch.zeros_like(ids))[0]
    torch.testing.assert_close(by_name, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(by_position, by_name)


def test_int8_package_is_rewritten_smaller_and_validated_by_similarity(tiny_checkpoint, tmp_path, capsys):
    folder = tiny_checkpoint("bert", "sequence-classification")
    float_export = export_model(str(folder), tmp_path / "fp32", feature="sequence-classification", format="aot-inductor")
    out = tmp_path / "int8"
    argv = ["-m", str(folder), "--feature", "sequence-classification", "--format", "aot-inductor", "--quantize", "int8", str(out)]
    assert cli.main(argv) == 0
    assert "Validating AOTInductor package model.pt2 (int8)... (inputs batch=3" in capsys.readouterr().out
    assert sorted(path.name for path in out.glob("*.pt2")) == ["model.pt2"]
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["quantization"] == "int8"
    cosines = [o["cosine"] for run in manifest["validation"]["runs"] if run["graph"].endswith("(int8)") for o in run["outputs"].values()]
    assert cosines and min(cosines) >= 0.99
    # the compiled code runs int8 products; the float package's does not
    assert "_int_mm" in _compiled_code(out / "model.pt2")
    assert "_int_mm" not in _compiled_code(float_export.output_dir / "model.pt2")


def test_int8_rewrite_quantizes_every_linear_per_token_and_smooths_only_narrow_products():
    """The rewrite on a small program: every constant-weight linear becomes int8, products that read one input share
    its smoothing, the down-projection (more inputs than outputs) is not smoothed, no float weight of a replaced linear
    is left, and the result stays close to float."""

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
            self.up, self.down = torch.nn.Linear(16, 64), torch.nn.Linear(64, 16, bias=False)

        def forward(self, x):
            return self.down(torch.nn.functional.gelu(self.up(self.query(x) + self.key(x))))

    torch.manual_seed(0)
    block = Block().eval()
    x = torch.randn(2, 5, 16)
    x[..., 3] *= 20  # an outlier channel, which smoothing moves into the weights
    program = torch.export.export(block, (), kwargs={"x": x}, dynamic_shapes={"x": {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}})
    module = quantize_program(program, 0.6, [{"x": x}])
    quantized = {name: child for name, child in module.named_children() if name.startswith("int8_linear_")}
    assert len(quantized) == 4 and all(child.weight_int8.dtype == torch.int8 for child in quantized.values())
    smoothing = [child.inverse_smoothing for child in quantized.values()]
    assert sum(s is None for s in smoothing) == 1  # the down-projection
    shared = [s for s in smoothing if s is not None]
    assert any(torch.equal(a, b) for i, a in enumerate(shared) for b in shared[i + 1 :])  # query and key share
    assert not [name for name, _ in module.named_parameters()]  # the float weights are gone
    fresh = torch.randn(3, 7, 16)
    fresh[..., 3] *= 20
    with torch.no_grad():
        got, expected = module(x=fresh), block(fresh)
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0)
    assert cosine > 0.999 and not torch.allclose(got, expected, atol=1e-6)  # quantized, and close


def test_quantize_presets_a_format_cannot_apply_are_refused(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["-m", str(tiny_checkpoint("bert")), "--format", "aot-inductor", "--quantize", "int8-weight", str(out)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --quantize int8-weight applies to --format onnx, not to --format aot-inductor"
    )
    argv = ["-m", str(tiny_checkpoint("bert")), "--format", "torchscript", "--quantize", "int8", str(out)]
    assert cli.main(argv) == 2
    assert "--quantize int8 applies to --format aot-inductor or --format onnx, not to --format torchscript" in capsys.readouterr().err
    assert not out.exists()


def test_decoder_with_past_package_validates_through_decode_steps(tiny_checkpoint, tmp_path):
    feature = "causal-lm-with-past"
    result = export_model(str(tiny_checkpoint("gpt2", feature)), tmp_path / "out", feature=feature, format="aot-inductor")
    assert result.validation.passed
    assert any(any(size > 0 for axis, size in run.sizes.items() if "past" in axis) for run in result.validation.runs)


def test_a_missing_cxx_compiler_is_one_line_and_leaves_nothing(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    import torch._inductor.config

    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", (None, str(tmp_path / "no-such-g++")))
    out = tmp_path / "out"
    assert cli.main(["-m", str(tiny_checkpoint("bert")), "--format", "aot-inductor", str(out)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --format aot-inductor needs a working C++ compiler: install g++ or clang++, or set CXX to one"
    )
    assert not out.exists()
