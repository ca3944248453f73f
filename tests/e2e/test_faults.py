"""Faults and hostile input: signals mid-stage, bad arguments, hostile checkpoints, and bad runtime calls.

Every CLI case checks the exit code, that the error is one line, that the output folder is byte-identical, and that no
staging folder is left.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from transformers_export import cli

HERE = Path(__file__).resolve().parents[1]  # tests/: slow_stages.py and the helpers it imports


def snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def no_staging(parent: Path) -> bool:
    from transformers_export.output.staging import STAGING_PREFIX

    return not list(parent.rglob(f"{STAGING_PREFIX}*"))


@pytest.fixture
def existing_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"previous export")
    (out / "notes.txt").write_text("mine")
    return out


@pytest.mark.parametrize("stage", ["loading the model", "tracing", "validating"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_stage_leaves_folder_and_no_staging(stage, signum, tiny_checkpoint, existing_output):
    before = snapshot(existing_output)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(HERE)}
    process = subprocess.Popen(
        [sys.executable, str(HERE / "slow_stages.py"), "-m", str(tiny_checkpoint("bert")), str(existing_output)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if stage in line:
            process.send_signal(signum)
            break
    stderr = "".join(seen) + process.stderr.read()
    process.wait(timeout=120)
    assert process.returncode == 128 + signum, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: interrupted by {signal.Signals(signum).name}; the output folder was left as it was"], (
        stderr
    )
    assert "Traceback" not in stderr
    assert snapshot(existing_output) == before
    assert no_staging(existing_output.parent)


def test_stale_staging_from_a_killed_export_is_cleaned_by_the_next(tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(HERE)}
    process = subprocess.Popen(
        [sys.executable, str(HERE / "slow_stages.py"), "-m", str(tiny_checkpoint("bert")), str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    for line in process.stderr:
        if "validating" in line:
            process.kill()  # SIGKILL: no handler runs
            break
    process.wait(timeout=60)
    assert not no_staging(tmp_path), "a killed export leaves its staging folder"
    assert cli.main(["-m", str(tiny_checkpoint("bert")), str(out)]) == 0
    assert no_staging(tmp_path) and (out / "model.onnx").is_file()


def expect_one_line(argv, capsys, code, text, output=None):
    before = snapshot(output) if output else None
    assert cli.main([str(arg) for arg in argv]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("error:")]) == 1 and err[-1].startswith("error: "), err
    assert "usage:" not in "\n".join(err)
    assert text in err[-1], err[-1]
    if output is not None:
        assert snapshot(output) == before and no_staging(output.parent)


@pytest.mark.parametrize(
    "args,text",
    [
        (["--opset", "abc"], "argument --opset: invalid int value: 'abc'"),
        (["--atol", "abc"], "argument --atol: invalid float value: 'abc'"),
        (["--format", "bogus"], "argument --format: invalid choice: 'bogus'"),
        (["--engine", "bogus"], "argument --engine: invalid choice: 'bogus'"),
        (["--quantize", "bogus"], "argument --quantize: invalid choice: 'bogus'"),
        (["--atol", "inf"], "--atol must be a positive finite number"),
        (["--atol", "nan"], "--atol must be a positive finite number"),
        (["--atol", "-1"], "--atol must be a positive finite number"),
        (["--opset", "99"], "opset 99 is newer than the trace engine of torch can write"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(args, text, tiny_checkpoint, existing_output, capsys):
    expect_one_line(["-m", tiny_checkpoint("bert"), *args, existing_output], capsys, 2, text, existing_output)


def test_no_arguments_is_one_line(capsys):
    expect_one_line([], capsys, 2, "missing --model and the output folder")


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("transformers-export ")


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "convert-tf" in capsys.readouterr().out


def test_dangling_symlink_output_fails_before_any_work(tiny_checkpoint, tmp_path, capsys):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "nowhere")
    expect_one_line(["-m", tiny_checkpoint("bert"), link], capsys, 2, "is a symlink to")


def test_export_into_the_checkpoint_folder_is_refused(tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint("bert"), folder)
    expect_one_line(["-m", folder, folder], capsys, 2, "is the checkpoint folder itself", folder)


def test_missing_path_like_folder_fails_at_once(tmp_path, capsys):
    expect_one_line(["-m", "./no/such/model", tmp_path / "out"], capsys, 2, "no such folder: './no/such/model'")


def _broken_config(tiny_checkpoint, tmp_path, edit):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint("bert"), folder)
    config = json.loads((folder / "config.json").read_text())
    edit(folder, config)
    return folder


def test_deeply_nested_config_is_exit_2(tmp_path, capsys):
    folder = tmp_path / "deep"
    folder.mkdir()
    (folder / "config.json").write_text("[" * 200000 + "]" * 200000)
    expect_one_line(["-m", folder, tmp_path / "out"], capsys, 2, "config.json in")


def test_model_type_of_the_wrong_type_is_exit_2(tiny_checkpoint, tmp_path, capsys):
    def edit(folder, config):
        config["model_type"] = ["bert"]
        (folder / "config.json").write_text(json.dumps(config))

    folder = _broken_config(tiny_checkpoint, tmp_path, edit)
    expect_one_line(["-m", folder, tmp_path / "out"], capsys, 2, "has a 'model_type' of type list")


def test_weights_that_do_not_fit_the_config_name_the_tensor(tiny_checkpoint, tmp_path, capsys):
    def edit(folder, config):
        config["intermediate_size"] = 40
        (folder / "config.json").write_text(json.dumps(config))

    folder = _broken_config(tiny_checkpoint, tmp_path, edit)
    expect_one_line(["-m", folder, tmp_path / "out"], capsys, 2, "do not fit its config.json: 'encoder.layer.")


def test_shard_index_pointing_outside_is_refused(tiny_checkpoint, tmp_path, capsys):
    def edit(folder, config):
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"weight_map": {"x": "../../../../etc/passwd"}})
        )

    folder = _broken_config(tiny_checkpoint, tmp_path, edit)
    expect_one_line(["-m", folder, tmp_path / "out"], capsys, 2, "points outside the folder")


def test_sequence_length_beyond_the_position_table(tiny_checkpoint, tmp_path, capsys):
    folder = tiny_checkpoint("gpt2", "causal-lm")
    expect_one_line(
        ["-m", folder, "--sequence-length", "100000", tmp_path / "out"], capsys, 2, "longer than the 64 positions"
    )


def test_malicious_pickle_is_never_executed(tiny_checkpoint, tmp_path, capsys):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint("bert"), folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Evil()))
    assert cli.main(["-m", str(folder), str(tmp_path / "out")]) == 2
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_exported_config_drops_auto_map(tiny_checkpoint, tmp_path):
    def edit(folder, config):
        config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(config))

    folder = _broken_config(tiny_checkpoint, tmp_path, edit)
    assert cli.main(["-m", str(folder), str(tmp_path / "out")]) == 0
    assert "auto_map" not in json.loads((tmp_path / "out" / "config.json").read_text())


def test_full_disk_leaves_output_unchanged(tiny_checkpoint, existing_output, capsys, monkeypatch):
    from transformers_export.output import commit

    def full(output, relative, aside, keep_in_place):  # the commit's first step that needs space
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(commit, "_set_aside", full)
    expect_one_line(
        ["-m", tiny_checkpoint("bert"), existing_output], capsys, 1, "No space left on device", existing_output
    )


@pytest.fixture
def small_filesystem(tmp_path):
    """A 20 MB tmpfs (as root), so that a real write runs out of space; skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)]).returncode:
        pytest.skip("mounting a tmpfs needs root; test_full_disk_leaves_output_unchanged injects the error instead")
    yield mount
    subprocess.run(["umount", str(mount)])


def test_real_full_disk_leaves_output_unchanged(minilm_path, small_filesystem, capsys):
    out = small_filesystem / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    # MiniLM's 90 MB graph cannot fit in 20 MB
    expect_one_line(["-m", minilm_path, out], capsys, 1, "No space left on device", out)
    assert sorted(p.name for p in small_filesystem.iterdir()) == ["out"]


def test_new_output_folder_follows_the_umask(tiny_checkpoint, tmp_path):
    assert cli.main(["-m", str(tiny_checkpoint("bert")), str(tmp_path / "out")]) == 0
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~mask


# --- runtime ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def decoder_folder(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("decoder") / "out"
    assert (
        cli.main(
            ["-m", str(tiny_checkpoint("gpt2", "causal-lm-with-past")), "--feature", "causal-lm-with-past", str(out)]
        )
        == 0
    )
    return out


@pytest.mark.parametrize(
    "call,text",
    [
        (dict(input_ids=[[1, 2]], max_new_tokens=-1), "max_new_tokens` must be greater than 0"),
        (dict(input_ids=[[1, 2]], typical_p=0.5), "cannot honour typical_p=0.5"),
        (dict(input_ids=[[1, 2]], colour="blue"), "cannot honour: .colour."),
        (dict(input_ids=[[1.5, 2.0]]), "must hold integer token ids"),
        (dict(input_ids=[[1, 2]], attention_mask=[[1, 1, 1]]), "attention_mask must have shape (1, 2)"),
        (dict(input_ids=[[-1, 2]]), "negative token ids"),
        (dict(input_ids=[[1, 2]], attention_mask=[[1, 0.5]]), "must hold only 0 and 1"),
        (dict(input_ids=[1, 2]), "input_ids must be 2-D"),
        (dict(input_ids=np.zeros((1, 0), dtype=np.int64)), "input_ids is empty"),
    ],
)
def test_runtime_refuses_bad_calls(decoder_folder, call, text):
    from transformers_export.runtime import OnnxModelForCausalLM

    with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)")):
        OnnxModelForCausalLM.from_pretrained(decoder_folder).generate(**call)


def test_runtime_refuses_a_cache_of_another_batch(decoder_folder):
    from transformers_export.runtime import OnnxDecoder

    decoder = OnnxDecoder(decoder_folder / "model.onnx")
    with pytest.raises(ValueError, match="is for batch 3, but input_ids has batch 2"):
        decoder.feed(np.ones((2, 1), np.int64), np.ones((2, 1), np.int64), decoder.empty_past(3))


def test_runtime_errors_name_the_file(decoder_folder, tmp_path):
    from transformers_export.runtime import OnnxDecoder, OnnxModelForCausalLM

    broken = tmp_path / "broken"
    shutil.copytree(decoder_folder, broken)
    (broken / "generation_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="generation_config.json is not valid JSON"):
        OnnxModelForCausalLM.from_pretrained(broken)
    with pytest.raises(ValueError, match="is a folder"):
        OnnxDecoder(decoder_folder)
    (broken / "export.json").unlink()
    with pytest.raises(OSError, match="no export.json"):
        OnnxModelForCausalLM.from_pretrained(broken)


@pytest.fixture(scope="module")
def encoder_folder(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("encoder") / "out"
    assert (
        cli.main(
            [
                "-m",
                str(tiny_checkpoint("bert", "sequence-classification")),
                "--feature",
                "sequence-classification",
                str(out),
            ]
        )
        == 0
    )
    return out


IDS = np.array([[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    "call,text",
    [
        (dict(input_ids=IDS.astype(np.float32)), "input_ids must hold integers"),
        (dict(input_ids=-IDS), "input_ids holds negative ids"),
        (dict(input_ids=IDS + 10_000), "outside the"),
        (
            dict(input_ids=IDS, attention_mask=np.ones((3, 3), np.int64)),
            "attention_mask has batch 3, but input_ids has batch 2",
        ),
        (dict(input_ids=IDS, attention_mask=np.full((2, 3), 0.5)), "attention_mask must hold only 0 and 1"),
        (dict(input_ids=IDS, attention_mask=np.ones((2, 4), np.int64)), "attention_mask has sequence 4"),
        (dict(input_ids=IDS[None]), "input_ids must be 2-D (batch, sequence)"),
        (dict(input_ids=IDS, token_type_ids=IDS), "token_type_ids holds 6"),
    ],
)
def test_forward_refuses_bad_inputs_by_name(encoder_folder, call, text):
    """pipeline() calls forward(): what generate() checked, forward() checks too, before ONNX Runtime."""
    from transformers_export.runtime import OnnxModelForSequenceClassification

    model = OnnxModelForSequenceClassification.from_pretrained(encoder_folder)
    with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)")):
        model(**call)
    assert model(input_ids=IDS, attention_mask=np.ones((2, 3), np.float32)).logits.shape[0] == 2


@pytest.mark.parametrize(
    "call,text",
    [
        (dict(do_sample=True, temperature=0.0), "`temperature` (=0.0) has to be a strictly positive float"),
        (dict(do_sample=True, top_p=1.5), "`top_p` has to be a float > 0 and < 1"),
        (dict(do_sample=True, top_k=-1), "`top_k` has to be a strictly positive integer"),
        (dict(repetition_penalty=0.0), "`repetition_penalty` has to be a strictly positive float"),
        (dict(num_beams=0), "`num_beams` has to be a strictly positive integer, but is 0"),
    ],
)
def test_generate_refuses_out_of_range_settings(decoder_folder, call, text):
    from transformers_export.runtime import OnnxModelForCausalLM

    model = OnnxModelForCausalLM.from_pretrained(decoder_folder)
    with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)")):
        model.generate(IDS, max_new_tokens=2, **call)
    with pytest.raises(ValueError, match="input_ids has an empty batch"):
        model.generate(np.zeros((0, 3), np.int64), max_new_tokens=2)


def _edit_manifest(folder, edit):
    data = json.loads((folder / "export.json").read_text())
    edit(data)
    (folder / "export.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    "edit,text",
    [
        (lambda data: data.pop("graphs"), "'graphs' is missing or empty"),
        (
            lambda data: data.update(graphs={"../../model.onnx": next(iter(data["graphs"].values()))}),
            "leaves the folder",
        ),
    ],
)
def test_a_tampered_folder_is_refused_in_one_line(encoder_folder, tmp_path, edit, text):
    from transformers_export.errors import CheckpointError
    from transformers_export.runtime import from_pretrained

    folder = tmp_path / "tampered"
    shutil.copytree(encoder_folder, folder)
    _edit_manifest(folder, edit)
    with pytest.raises(CheckpointError, match=text):
        from_pretrained(folder)


def test_a_config_nested_past_the_parser_is_one_line(encoder_folder, tmp_path):
    from transformers_export.errors import CheckpointError
    from transformers_export.runtime import OnnxModelForSequenceClassification

    folder = tmp_path / "tampered"
    shutil.copytree(encoder_folder, folder)
    (folder / "config.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(CheckpointError, match="config.json"):
        OnnxModelForSequenceClassification.from_pretrained(folder)


def test_a_reader_opens_again_when_an_export_lands_meanwhile(encoder_folder, tmp_path, monkeypatch):
    from transformers_export.runtime import OnnxModelForSequenceClassification

    folder = tmp_path / "live"
    shutil.copytree(encoder_folder, folder)
    real_open, opened = OnnxModelForSequenceClassification._open, []

    def open_while_committed(self, *args):
        real_open(self, *args)
        opened.append(1)
        if len(opened) == 1:  # an export commits between reading export.json and finishing the open
            text = (folder / "export.json").read_text()
            (folder / "new.json").write_text(text)
            os.replace(folder / "new.json", folder / "export.json")

    monkeypatch.setattr(OnnxModelForSequenceClassification, "_open", open_while_committed)
    model = OnnxModelForSequenceClassification.from_pretrained(folder)
    assert len(opened) == 2 and model.manifest.unchanged()


def _unreachable_hub_env():
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    }
    return {**env, "HF_ENDPOINT": "http://127.0.0.1:9"}  # loopback, closed port: refused at once


def test_unreachable_hub_fails_after_one_attempt_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "transformers_export", "-m", "someorg/no-such-model", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=_unreachable_hub_env(),
        timeout=120,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the hub cannot be reached: cannot connect to 127.0.0.1:9" in errors[0], result.stderr
    assert "Retrying" not in result.stderr and not (tmp_path / "out").exists()


def test_unreachable_hub_still_exports_from_the_download_cache(tiny_checkpoint, tmp_path):
    # the layout huggingface_hub's cache gives a downloaded model: refs/main names the snapshot holding the files
    snapshot = tmp_path / "cache" / "models--someorg--tiny-bert" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_checkpoint("bert"), snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "transformers_export",
            "-m",
            "someorg/tiny-bert",
            "--cache_dir",
            str(tmp_path / "cache"),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=_unreachable_hub_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "model.onnx").is_file() and "Retrying" not in result.stderr


def test_signal_during_a_slow_commit_lands_after_it(tmp_path, monkeypatch):
    """The commit is never cut in two: a signal that arrives during it is acted on once the new files are in place."""
    import time

    from transformers_export.output import commit, staging
    from transformers_export.errors import Interrupted
    from transformers_export.output.signals import handling_signals

    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_text("old")
    real_finish = commit.finish

    def slow_finish(folder, output):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the commit is under way
        time.sleep(0.2)
        real_finish(folder, output)

    monkeypatch.setattr(commit, "finish", slow_finish)
    with pytest.raises(Interrupted) as raised, handling_signals():
        with staging.staged_output(out) as folder:
            (folder / "model.onnx").write_text("new")
    assert raised.value.after_commit and raised.value.exit_code == 128 + signal.SIGTERM
    assert (out / "model.onnx").read_text() == "new" and no_staging(tmp_path)


def test_interrupt_during_the_onnxruntime_import_is_an_interrupt(monkeypatch, tmp_path):
    from transformers_export.output import signals
    from transformers_export.errors import Interrupted
    from transformers_export.formats.onnx import open_session

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # the import fails, as an interrupted one does
    with signals.handling_signals():
        signals._received.append(signal.SIGINT)
        with pytest.raises(Interrupted):
            open_session(tmp_path / "model.onnx")
    from transformers_export.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match="pip install onnxruntime"), signals.handling_signals():
        open_session(tmp_path / "model.onnx")


def test_capture_chain_falls_back_to_dynamo_and_names_both_failures(tiny_checkpoint, tmp_path, monkeypatch, caplog):
    from transformers_export import export_model
    from transformers_export.errors import TraceError
    from transformers_export.formats.onnx import convert

    real = convert.export_onnx

    def trace_fails(*args, engine="trace", **kwargs):
        if engine == "trace":
            raise TraceError("exporting BertModel with the trace engine failed: simulated")
        return real(*args, engine=engine, **kwargs)

    monkeypatch.setattr(convert, "export_onnx", trace_fails)
    with caplog.at_level("WARNING", logger="transformers_export"):
        result = export_model(str(tiny_checkpoint("bert")), tmp_path / "out")
    assert result.engine == "dynamo" and result.manifest["graphs"]["model.onnx"]["engine"] == "dynamo"
    assert "simulated; trying the dynamo engine" in caplog.text

    def both_fail(*args, engine="trace", **kwargs):
        raise TraceError(f"exporting BertModel with the {engine} engine failed: simulated")

    monkeypatch.setattr(convert, "export_onnx", both_fail)
    with pytest.raises(TraceError, match="trace engine failed: simulated; .* dynamo engine failed: simulated"):
        export_model(str(tiny_checkpoint("bert")), tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_a_volume_mounted_inside_the_output_survives_an_export(tiny_checkpoint, tmp_path, capsys):
    """The issue's case: `out/data` is a mounted volume holding the user's file; exporting into `out/` keeps it."""
    out = tmp_path / "out"
    data = out / "data"
    data.mkdir(parents=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data)]).returncode:
        pytest.skip("mounting a tmpfs needs root; tests/unit/output/test_commit.py covers the commit without one")
    try:
        (data / "user.txt").write_text("precious")
        for _ in range(2):  # a new output, then a re-export over the first
            assert cli.main(["-m", str(tiny_checkpoint("bert")), str(out)]) == 0, capsys.readouterr().err
        assert (data / "user.txt").read_text() == "precious" and os.path.ismount(data)
        assert (out / "model.onnx").is_file() and no_staging(tmp_path)
    finally:
        subprocess.run(["umount", "-l", str(data)])
