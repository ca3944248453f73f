"""The command line: a real checkpoint end to end, and every error a user can cause."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from transformers_export import cli


def run_cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "transformers_export", *map(str, args)], capture_output=True, text=True, env=env
    )


def test_minilm_export_matches_pytorch_on_real_sentences(minilm_path, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "onnx"
    result = run_cli("-m", minilm_path, out)
    assert result.returncode == 0, result.stderr
    assert "-[✓] ONNX model output names match reference model ({'last_hidden_state'})" in result.stdout
    assert "-[✓] all values close (atol: 1e-05" in result.stdout
    assert f"All good, model saved at: {out / 'model.onnx'}" in result.stdout
    assert {"model.onnx", "config.json", "tokenizer.json", "export.json"} <= {p.name for p in out.iterdir()}

    manifest = json.loads((out / "export.json").read_text())
    assert manifest["feature"] == "default" and manifest["validation"]["passed"]
    graph = manifest["graphs"]["model.onnx"]
    assert graph["inputs"]["input_ids"] == {
        "axes": {"0": "batch", "1": "sequence"},
        "dtype": "int64",
        "shape": ["batch", "sequence"],
    }
    assert graph["outputs"]["last_hidden_state"]["dtype"] == "float32" and manifest["manifest_version"] == 2
    assert graph["traced_shapes"]["input_ids"] == [2, 8]
    assert manifest["layout"] == "monolith" and manifest["files"] == sorted(p.name for p in out.iterdir())

    # What a user does next: the exported folder alone, its tokenizer, ONNX Runtime.
    tokenizer = AutoTokenizer.from_pretrained(out)
    sentences = ["Using MiniLM with ONNX Runtime!", "A second, rather longer sentence to force some padding here."]
    encoded = tokenizer(sentences, padding=True, return_tensors="np")
    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (hidden,) = session.run(["last_hidden_state"], dict(encoded))
    model = AutoModel.from_pretrained(minilm_path).eval()
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in encoded.items()}).last_hidden_state.numpy()
    mask = encoded["attention_mask"].astype(bool)
    np.testing.assert_allclose(hidden[mask], expected[mask], atol=1e-4)

    # sentence embeddings (mean pooling) as sentence-transformers computes them
    def pool(h):
        return (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)

    np.testing.assert_allclose(pool(hidden), pool(expected), atol=1e-5)


def test_auto_feature_and_modern_alias(tiny_checkpoint, tmp_path, capsys):
    folder = tiny_checkpoint("roberta", "sequence-classification")
    assert cli.main(["-m", str(folder), "--feature", "auto", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "export.json").read_text())["feature"] == "sequence-classification"
    assert cli.main(["-m", str(folder), "--feature", "text-classification", str(tmp_path / "b")]) == 0
    assert "{'logits'}" in capsys.readouterr().out


@pytest.mark.parametrize("model_type,base", [("llama", "causal-lm"), ("bart", "seq2seq-lm")])
def test_auto_feature_of_a_generating_model_generates(model_type, base, tiny_checkpoint):
    """A Llama gets causal-lm-with-past: the feature generation needs, as users expect."""
    from transformers import AutoConfig

    from transformers_export.resolve.features import default_feature

    folder = tiny_checkpoint(model_type, base)
    assert AutoConfig.from_pretrained(folder).architectures[0].endswith(("ForCausalLM", "ForConditionalGeneration"))
    assert default_feature(str(folder)) == f"{base}-with-past"


def test_dynamo_engine_is_selectable(tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint("bert", "token-classification")
    assert (
        cli.main(["-m", str(folder), "--feature", "token-classification", "--engine", "dynamo", str(tmp_path / "o")])
        == 0
    )
    manifest = json.loads((tmp_path / "o" / "export.json").read_text())
    assert manifest["engine"] == "dynamo" and manifest["opset"] >= 18 and manifest["validation"]["passed"]


def test_existing_output_folder_keeps_other_files(tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.txt").write_text("mine")
    assert cli.main(["-m", str(tiny_checkpoint("bert")), str(out)]) == 0
    assert (out / "README.txt").read_text() == "mine" and (out / "model.onnx").is_file()


# ---------------------------------------------------------------------------------------------------------------
# Errors: one line on stderr, a non-zero exit, nothing left behind.


def snapshot(folder: Path) -> set:
    return {(str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")}


def expect_error(argv, capsys, code: int, *fragments: str, workdir: Path):
    before = snapshot(workdir)
    assert cli.main([str(a) for a in argv]) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    assert snapshot(workdir) == before, "the failed export left files behind"
    return lines[-1]


@pytest.fixture
def workdir(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def write_checkpoint(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_error_unknown_model_type(tmp_path, workdir, capsys):
    ckpt = write_checkpoint(tmp_path / "ckpt", {"model_type": "not-a-model"})
    line = expect_error(
        ["-m", ckpt, workdir / "out"], capsys, 2, "model type 'not-a-model' is not supported", workdir=workdir
    )
    assert "bert" in line and "OnnxConfig" in line  # lists supported types and how to add one


def test_error_model_type_without_export_config(tmp_path, workdir, capsys):
    ckpt = write_checkpoint(tmp_path / "ckpt", {"model_type": "speecht5"})  # speech seq2seq: no spec, no generic path
    expect_error(["-m", ckpt, workdir / "out"], capsys, 2, "model type 'speecht5' is not supported", workdir=workdir)


def test_error_unsupported_feature_lists_features(tiny_checkpoint, workdir, capsys):
    line = expect_error(
        ["-m", tiny_checkpoint("distilbert"), "--feature", "causal-lm", workdir / "out"],
        capsys,
        2,
        "distilbert doesn't support feature 'causal-lm'",
        workdir=workdir,
    )
    assert "masked-lm" in line


def test_error_with_past_feature_on_a_model_without_cache(tiny_checkpoint, workdir, capsys):
    line = expect_error(
        ["-m", tiny_checkpoint("albert"), "--feature", "causal-lm-with-past", workdir / "out"],
        capsys,
        2,
        "albert doesn't support feature 'causal-lm-with-past'",
        workdir=workdir,
    )
    assert "masked-lm" in line


def test_error_unknown_feature_name(tiny_checkpoint, workdir, capsys):
    line = expect_error(
        ["-m", tiny_checkpoint("bert"), "--feature", "dance", workdir / "out"],
        capsys,
        2,
        "unknown feature 'dance'; known features:",
        workdir=workdir,
    )
    assert "did you mean" not in line


@pytest.mark.parametrize(
    "typed,meant",
    [("causal_lm_with_past", "causal-lm-with-past"), ("sequence-clasification", "sequence-classification")],
)
def test_a_mistyped_feature_gets_the_closest_name_before_any_stage(tiny_checkpoint, workdir, capsys, typed, meant):
    assert cli.main(["-m", str(tiny_checkpoint("bert")), "--feature", typed, str(workdir / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # no stage line: the name is judged before the model is read
    assert lines[0].startswith(f"error: unknown feature '{typed}'; did you mean '{meant}'?"), lines


def test_error_architecture_that_cannot_export_says_why(tmp_path, workdir, capsys):
    ckpt = write_checkpoint(tmp_path / "ckpt", {"model_type": "longformer"})
    expect_error(
        ["-m", ckpt, workdir / "out"],
        capsys,
        2,
        "longformer doesn't support feature 'default'",
        "sliding-window",
        workdir=workdir,
    )


def test_error_opset_below_minimum(tiny_checkpoint, workdir, capsys):
    expect_error(
        ["-m", tiny_checkpoint("bert"), "--opset", "9", workdir / "out"],
        capsys,
        2,
        "opset 9 is below the minimum 14",
        workdir=workdir,
    )


def test_error_missing_checkpoint(workdir, capsys):
    expect_error(["-m", workdir / "nowhere", workdir / "out"], capsys, 2, "no such folder", workdir=workdir)


def test_error_folder_without_config(workdir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    expect_error(["-m", tmp_path / "empty", workdir / "out"], capsys, 2, "no config.json in", workdir=workdir)


def test_error_config_without_weights(tiny_checkpoint, tmp_path, workdir, capsys):
    ckpt = tmp_path / "noweights"
    ckpt.mkdir()
    (ckpt / "config.json").write_text((tiny_checkpoint("bert") / "config.json").read_text())
    expect_error(["-m", ckpt, workdir / "out"], capsys, 2, "cannot load the weights of", workdir=workdir)


def test_error_corrupt_weights(tiny_checkpoint, tmp_path, workdir, capsys):
    ckpt = tmp_path / "corrupt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text((tiny_checkpoint("bert") / "config.json").read_text())
    (ckpt / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    expect_error(["-m", ckpt, workdir / "out"], capsys, 2, "cannot load the weights of", workdir=workdir)


def test_error_corrupt_config(tmp_path, workdir, capsys):
    ckpt = tmp_path / "badjson"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{not json")
    expect_error(["-m", ckpt, workdir / "out"], capsys, 2, "config.json in", "is not valid JSON", workdir=workdir)


def test_error_requested_preprocessor_missing(tiny_checkpoint, workdir, capsys):
    expect_error(
        ["-m", tiny_checkpoint("bert"), "--preprocessor", "tokenizer", workdir / "out"],
        capsys,
        2,
        "cannot load a tokenizer from",
        workdir=workdir,
    )


def test_error_output_not_writable(tiny_checkpoint, workdir, capsys):
    (workdir / "afile").write_text("x")
    expect_error(["-m", tiny_checkpoint("bert"), workdir / "afile" / "out"], capsys, 2, "is a file", workdir=workdir)
    expect_error(
        ["-m", tiny_checkpoint("bert"), "/proc/transformers-export-test/out"],
        capsys,
        2,
        "not writable",
        workdir=workdir,
    )


def test_error_output_is_a_file(tiny_checkpoint, workdir, capsys):
    (workdir / "model").write_text("x")
    expect_error(
        ["-m", tiny_checkpoint("bert"), workdir / "model"], capsys, 2, "exists and is not a folder", workdir=workdir
    )


def test_error_bad_atol(tiny_checkpoint, workdir, capsys):
    expect_error(
        ["-m", tiny_checkpoint("bert"), "--atol", "-1", workdir / "out"],
        capsys,
        2,
        "--atol must be a positive",
        workdir=workdir,
    )


def test_error_tensorflow_weights(tmp_path, tiny_checkpoint, workdir, capsys):
    ckpt = tmp_path / "tf"
    ckpt.mkdir()
    (ckpt / "config.json").write_text((tiny_checkpoint("bert") / "config.json").read_text())
    (ckpt / "tf_model.h5").write_bytes(b"\x89HDF")
    expect_error(["-m", ckpt, workdir / "out"], capsys, 2, "is not a readable HDF5 file", workdir=workdir)


def test_error_validation_failure_leaves_nothing(tiny_checkpoint, workdir, capsys, monkeypatch):
    import onnx

    from transformers_export.formats.onnx import convert

    real_export = convert.export_onnx

    def export_then_corrupt(*args, **kwargs):
        exported = real_export(*args, **kwargs)
        proto = onnx.load(str(exported.path))
        for initializer in proto.graph.initializer:
            if initializer.data_type == onnx.TensorProto.FLOAT and initializer.raw_data:
                array = onnx.numpy_helper.to_array(initializer) + 0.5
                initializer.CopyFrom(onnx.numpy_helper.from_array(array, initializer.name))
        onnx.save(proto, str(exported.path))
        return exported

    monkeypatch.setattr(convert, "export_onnx", export_then_corrupt)
    out = workdir / "nested" / "out"
    expect_error(
        ["-m", tiny_checkpoint("bert"), out],
        capsys,
        3,
        "output 'last_hidden_state' of the ONNX model differs from PyTorch",
        "atol 1e-05",
        workdir=workdir,
    )


def test_ctrl_c_mid_export_leaves_nothing(tiny_checkpoint, workdir, capsys, monkeypatch):
    from transformers_export import pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "check_export", interrupted)
    expect_error(["-m", tiny_checkpoint("bert"), workdir / "out"], capsys, 130, "interrupted", workdir=workdir)


def test_subprocess_error_is_one_line_and_verbose_shows_traceback(workdir):
    result = run_cli("-m", workdir / "missing", workdir / "out")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.stderr
    verbose = run_cli("-m", workdir / "missing", "--verbose", workdir / "out")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr
    assert list(workdir.iterdir()) == []


def test_error_hub_id_unreachable(workdir, capsys):
    expect_error(
        ["-m", "no-such-org/no-such-model", workdir / "out"],
        capsys,
        2,
        "is not a local folder and could not be fetched",
        workdir=workdir,
    )


def test_error_generation_layout_for_a_model_that_is_not_seq2seq(tiny_checkpoint, workdir, capsys):
    expect_error(
        [
            "-m",
            tiny_checkpoint("gpt2", "causal-lm-with-past"),
            "--feature",
            "causal-lm-with-past",
            "--layout",
            "generation",
            workdir / "out",
        ],
        capsys,
        2,
        "--layout generation is for encoder-decoder models; gpt2 --feature causal-lm-with-past is not one",
        workdir=workdir,
    )


def test_error_generation_layout_for_the_decoder_head_of_a_seq2seq_type(tiny_checkpoint, workdir, capsys):
    expect_error(
        [
            "-m",
            tiny_checkpoint("bart", "causal-lm-with-past"),
            "--feature",
            "causal-lm-with-past",
            "--layout",
            "generation",
            workdir / "out",
        ],
        capsys,
        2,
        "bart --feature causal-lm-with-past is not one",
        workdir=workdir,
    )


def test_error_generation_layout_without_cache(tiny_checkpoint, workdir, capsys):
    expect_error(
        [
            "-m",
            tiny_checkpoint("t5", "seq2seq-lm"),
            "--feature",
            "seq2seq-lm",
            "--layout",
            "generation",
            workdir / "out",
        ],
        capsys,
        2,
        "use --feature seq2seq-lm-with-past",
        workdir=workdir,
    )


def test_seq2seq_single_graph_with_cache_from_the_cli(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "t5"
    argv = [
        "-m",
        str(tiny_checkpoint("t5", "seq2seq-lm")),
        "--feature",
        "seq2seq-lm-with-past",
        "--layout",
        "monolith",
        str(out),
    ]
    assert cli.main(argv) == 0
    assert "Validating ONNX model... (inputs step=3" in capsys.readouterr().out
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["layout"] == "monolith" and list(manifest["graphs"]) == ["model.onnx"]
    assert manifest["files"] == sorted(p.name for p in out.iterdir())
    inputs = manifest["graphs"]["model.onnx"]["inputs"]
    assert list(inputs)[:4] == ["input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask"]
    assert list(inputs)[4:8] == [
        f"past_key_values.0.{side}.{kind}" for side in ("decoder", "encoder") for kind in ("key", "value")
    ]


def test_seq2seq_generation_layout_from_the_cli(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "t5"
    assert (
        cli.main(
            ["-m", str(tiny_checkpoint("t5", "seq2seq-lm")), "--feature", "text2text-generation-with-past", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "Validating ONNX model encoder + decoder... (inputs step=3" in printed
    assert f"All good, model saved at: {out}" in printed
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["layout"] == "generation"
    assert {"decoder_model.onnx", "encoder_model.onnx", "model.onnx.data"} <= set(manifest["files"])
    assert manifest["files"] == sorted(p.name for p in out.iterdir())
    assert "past_key_values.0.encoder.key" in manifest["graphs"]["decoder_model.onnx"]["inputs"]


def test_in_process_cli_leaves_the_callers_logging_as_it_was(workdir, capsys, caplog):
    """main() may be called from Python (notebooks, tests): its log setup must not outlive the call."""
    import logging

    package_logger = logging.getLogger("transformers_export")
    before = (package_logger.handlers[:], package_logger.level, package_logger.propagate)
    expect_error(["-m", workdir / "missing", workdir / "out"], capsys, 2, "no such folder", workdir=workdir)
    assert (package_logger.handlers, package_logger.level, package_logger.propagate) == before
    with caplog.at_level("WARNING", logger="transformers_export"):
        logging.getLogger("transformers_export.resolve.loading").warning("seen by the caller")
    assert "seen by the caller" in caplog.text


def test_long_stages_report_progress(tiny_checkpoint, tmp_path):
    from transformers_export import ExportRequest, run_export

    events = []
    run_export(
        ExportRequest(
            str(tiny_checkpoint("gpt2", "causal-lm-with-past")), tmp_path / "out", feature="causal-lm-with-past"
        ),
        on_progress=lambda *event: events.append(event),
    )
    weights = [(done, total) for stage, done, total, unit in events if stage == "trace" and unit == "B"]
    runs = [(done, total) for stage, done, total, unit in events if stage == "validate"]
    assert (
        weights and weights[-1][0] == weights[-1][1] > 0 and all(a <= b for (a, _), (b, _) in zip(weights, weights[1:]))
    )
    assert runs and runs[-1] == (6, 6)  # two shapes, then a prompt and three decode steps
    # PyTorch's forwards are counted as they run (their number is not known up front): 2 shapes, prompt + 3 steps
    forwards = [(done, total) for stage, done, total, unit in events if stage == "references" and unit == "forwards"]
    assert forwards == [(count, None) for count in range(1, 7)], forwards


def test_a_misspelt_subcommand_is_named_with_the_closest_one(capsys):
    from transformers_export import cli

    assert cli.main(["inspekt", "out"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "error: unknown command 'inspekt'; did you mean 'inspect'? (commands: convert-tf, inspect, benchmark; an "
        "export is transformers-export -m MODEL OUTPUT)"
    ]
