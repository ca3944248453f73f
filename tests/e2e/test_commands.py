"""The `inspect` and `benchmark` commands, `--help`, and the newcomer fixes of the CLI. Structure is asserted, never
timings."""

import json

import pytest

from transformers_export import cli, export_model


# a race short enough for a test: one batch size, 8 tokens, two timed runs after one warm-up
QUICK = ["--batch-size", "1", "--sequence-length", "8", "--runs", "2", "--warmup", "1"]


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect") / "onnx"
    export_model(str(tiny_checkpoint("bert", "sequence-classification")), out, feature="sequence-classification")
    return out


def test_help_lists_every_subcommand(capsys):
    from transformers_export.cli.commands import COMMANDS

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert set(COMMANDS) == {"convert-tf", "inspect", "benchmark"}
    for name in COMMANDS:
        assert f"'{name}'" in text


def test_inspect_folder_text(exported, capsys):
    assert cli.main(["inspect", str(exported)]) == 0
    out = capsys.readouterr().out
    assert "for 'sequence-classification'" in out and "validation: passed" in out
    assert "input_ids" in out and "(batch, sequence)" in out and "logits" in out and "(batch, 3)" in out
    assert "opset 17" in out and "operators (" in out and "MatMul" in out


def test_inspect_json_describes_the_graph(exported, capsys):
    assert cli.main(["inspect", str(exported / "model.onnx"), "--json"]) == 0
    description = json.loads(capsys.readouterr().out)
    assert (
        description["export"]["feature"] == "sequence-classification" and description["export"]["validation"]["passed"]
    )
    (graph,) = description["graphs"]
    assert graph["file"] == "model.onnx" and graph["opset"] == 17 and graph["bytes"] > 0
    assert [i["name"] for i in graph["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert graph["inputs"][0] == {"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}
    assert sum(graph["operators"].values()) == graph["nodes"] > 0


@pytest.mark.parametrize("fmt, file", [("torchscript", "model.pt"), ("exported-program", "model.pt2")])
def test_inspect_gives_torch_formats_their_full_rank(fmt, file, tiny_checkpoint, tmp_path, capsys):
    """Their I/O comes from export.json, which used to keep only the dynamic axes: (batch, sequence) for a rank-3
    hidden state."""
    export_model(str(tiny_checkpoint("bert")), tmp_path / "out", feature="default", format=fmt)
    assert cli.main(["inspect", str(tmp_path / "out"), "--json"]) == 0
    (graph,) = json.loads(capsys.readouterr().out)["graphs"]
    assert graph["file"] == file
    assert graph["outputs"][0] == {"name": "last_hidden_state", "dtype": "float32", "shape": ["batch", "sequence", 32]}
    assert graph["inputs"][0]["shape"] == ["batch", "sequence"]


def test_inspect_shows_external_data(tiny_checkpoint, tmp_path, capsys):
    export_model(str(tiny_checkpoint("t5", "seq2seq-lm")), tmp_path / "t5", feature="seq2seq-lm-with-past")
    assert cli.main(["inspect", str(tmp_path / "t5"), "--json"]) == 0
    graphs = {g["file"]: g for g in json.loads(capsys.readouterr().out)["graphs"]}
    assert set(graphs) == {"encoder_model.onnx", "decoder_model.onnx"}
    assert graphs["decoder_model.onnx"]["external_data"][0]["bytes"] > 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["inspect", "/no/such/folder"], "does not exist"),
        (["inspect"], "the following arguments are required: path"),
        (["benchmark", "x", "--batch-size", "1,a"], "batch sizes must be positive integers"),
        (["benchmark", "x", "--contenders", "eager,gpu"], "unknown contender(s) gpu"),
        (["benchmark", "x", "--runs", "0"], "--runs must be at least 1"),
    ],
)
def test_command_errors_are_one_line(argv, message, capsys):
    assert cli.main(argv) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def beside_the_checkpoint(tiny_checkpoint, monkeypatch):
    """export.json names a local checkpoint by its folder's name: PyTorch contenders find it from its parent."""
    monkeypatch.chdir(tiny_checkpoint("bert", "sequence-classification").parent)


def test_benchmark_an_export_prints_a_table_json_and_a_plot(exported, tmp_path, capsys, beside_the_checkpoint):
    argv = [
        "benchmark",
        str(exported),
        "--batch-size",
        "1,2",
        "--sequence-length",
        "8",
        "--runs",
        "2",
        "--warmup",
        "1",
        "--contenders",
        "eager,onnx",
        "--json",
        str(tmp_path / "r.json"),
        "--plot",
        str(tmp_path / "r.png"),
        "-q",
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "p50 ms" in out and "ONNX Runtime" in out and "PyTorch eager fp32" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert {(r["contender"], r["batch"]) for r in report["latency"]} == {
        (c, b) for c in ("PyTorch eager fp32", "ONNX Runtime") for b in (1, 2)
    }
    for result in report["latency"]:
        assert result["p90_ms"] >= result["p50_ms"] > 0 and result["throughput"] > 0
    assert report["machine"]["flags"] is not None and report["generation"] == []
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_benchmark_a_decoder_checkpoint_reports_generation(tiny_checkpoint, tmp_path, capsys):
    argv = [
        "benchmark",
        str(tiny_checkpoint("llama", "causal-lm")),
        *QUICK,
        "--generate-tokens",
        "4",
        "--contenders",
        "eager,torchscript,onnx",
        "--quantize",
        "int4-weight",
        "--json",
        str(tmp_path / "r.json"),
        "-q",
    ]
    assert cli.main(argv) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["feature"] == "causal-lm-with-past", "a generating model is exported with its cache"
    assert {r["contender"] for r in report["latency"]} == {
        "PyTorch eager fp32",
        "TorchScript",
        "ONNX Runtime",
        "ONNX Runtime int4-weight",
    }
    assert {g["contender"] for g in report["generation"]} == {
        "PyTorch eager fp32",
        "ONNX Runtime",
        "ONNX Runtime int4-weight",
    }
    assert all(g["tokens_per_second"] > 0 for g in report["generation"])
    # raced whatever its validation gave, and the report says what that was
    assert (
        set(report["quantized_cosine"]) == {"ONNX Runtime int4-weight"}
        and -1 <= report["quantized_cosine"]["ONNX Runtime int4-weight"] <= 1
    )
    out = capsys.readouterr().out
    assert "tokens/s" in out and "lowest cosine to PyTorch on the validation inputs: int4-weight 0." in out


def test_stage_lines_name_only_what_was_written(tiny_checkpoint, tmp_path, capsys):
    assert (
        cli.main(["-m", str(tiny_checkpoint("gpt2", "causal-lm")), "--feature", "causal-lm", str(tmp_path / "o")]) == 0
    )
    err = capsys.readouterr().err
    assert "wrote config and export.json" in err and "preprocessor" not in err


def test_a_bad_tracer_fails_before_the_first_stage(tiny_checkpoint, tmp_path, capsys):
    argv = [
        "-m",
        str(tiny_checkpoint("bert")),
        "--format",
        "torchscript",
        "--tracer",
        "no_such_sdk:trace",
        str(tmp_path / "o"),
    ]
    capsys.readouterr()  # (building the checkpoint prints)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: --tracer: cannot import 'no_such_sdk' (No module named 'no_such_sdk'); is its SDK installed?"
    ]


def test_seed_walkthrough_imports_the_model_config_from_the_models_path():
    from transformers import DistilBertConfig as TransformersConfig

    from transformers_export.models.distilbert import DistilBertConfig, DistilBertOnnxConfig

    assert DistilBertConfig is TransformersConfig
    assert list(DistilBertOnnxConfig(DistilBertConfig()).inputs) == ["input_ids", "attention_mask"]


def test_export_model_of_a_loaded_model_says_what_to_pass(tiny_checkpoint, tmp_path):
    from transformers import AutoModel

    with pytest.raises(TypeError, match="save it with save_pretrained.. first, or use transformers_export.export"):
        export_model(AutoModel.from_pretrained(tiny_checkpoint("bert")), tmp_path / "o")


def test_benchmark_races_aot_inductor_packages_when_named(tiny_checkpoint, tmp_path, capsys):
    argv = [
        "benchmark",
        str(tiny_checkpoint("bert")),
        *QUICK,
        "--contenders",
        "eager,aot-inductor",
        "--quantize",
        "int8",
        "--json",
        str(tmp_path / "r.json"),
        "-q",
    ]
    assert cli.main(argv) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert {r["contender"] for r in report["latency"]} == {
        "PyTorch eager fp32",
        "AOTInductor",
        "AOTInductor int8",
        "ONNX Runtime int8",
    }
    assert set(report["quantized_cosine"]) == {"AOTInductor int8", "ONNX Runtime int8"}
    assert all(0.9 < cosine <= 1 for cosine in report["quantized_cosine"].values())
    assert "AOTInductor int8" in capsys.readouterr().out


def test_benchmark_plot_without_matplotlib_is_refused_before_the_race(exported, tmp_path, capsys, monkeypatch):
    import importlib.util

    from transformers_export import benchmark

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a)
    )
    monkeypatch.setattr(benchmark, "run_benchmark", lambda *a, **k: pytest.fail("the race started"))
    assert cli.main(["benchmark", str(exported), "--plot", str(tmp_path / "r.png"), "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --plot needs matplotlib: pip install matplotlib (or drop --plot)"
    ]
    assert not (tmp_path / "r.png").exists()


def test_benchmark_of_an_export_away_from_its_checkpoint_says_where_to_run(exported, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["benchmark", str(exported), "--contenders", "eager", "-q"]) == 1
    err = capsys.readouterr().err
    assert "names its checkpoint by its folder's name" in err and "--contenders onnx" in err
    assert len(err.strip().splitlines()) == 1


def test_benchmark_of_an_export_races_only_the_contenders_named(exported, tmp_path, capsys, beside_the_checkpoint):
    argv = ["benchmark", str(exported), "--batch-size", "1", "--sequence-length", "8", "--runs", "2", "--warmup", "1",
            "--contenders", "eager", "--json", str(tmp_path / "r.json"), "-q"]  # fmt: skip
    assert cli.main(argv) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert {r["contender"] for r in report["latency"]} == {"PyTorch eager fp32"}
