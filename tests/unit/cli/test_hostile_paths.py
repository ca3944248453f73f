"""`inspect` and `benchmark` given hostile or unlucky paths: one line and exit 2, never a hang, a read of an endless
device, or a traceback."""

import os

import pytest

from transformers_export import cli


def _one_line(capsys, argv, code, text):
    assert cli.main([str(arg) for arg in argv]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and text in err[0], err
    assert "Traceback" not in err[0]


def test_inspect_refuses_a_fifo_without_opening_it(tmp_path, capsys):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    _one_line(capsys, ["inspect", fifo], 2, "is not a regular file or folder")


def test_inspect_refuses_a_device_behind_a_graph_name(tmp_path, capsys):
    (tmp_path / "model.onnx").symlink_to("/dev/zero")  # read whole, it never ends
    _one_line(capsys, ["inspect", tmp_path / "model.onnx"], 2, "is not a regular file or folder")
    _one_line(capsys, ["inspect", "/dev/zero"], 2, "is not a regular file or folder")


def test_inspect_refuses_a_graph_the_manifest_names_that_is_not_a_file(tmp_path, capsys):
    from transformers_export.output.manifest import tensor_entry, write_manifest

    graph = {"inputs": {"input_ids": tensor_entry({0: "batch"}, "int64")}, "outputs": {}}
    write_manifest(
        tmp_path, {"format": "onnx", "feature": "default", "layout": "monolith", "graphs": {"model.onnx": graph}}
    )
    os.mkfifo(tmp_path / "model.onnx")
    _one_line(capsys, ["inspect", tmp_path], 2, "is missing or not a regular file")


@pytest.mark.parametrize("path", ["x" * 300, "/tmp/" + "a/" * 2100])
def test_inspect_names_an_impossible_path(capsys, path):
    _one_line(capsys, ["inspect", path], 2, "cannot read")


def test_benchmark_checks_its_result_paths_before_the_race(tmp_path, capsys):
    _one_line(capsys, ["benchmark", tmp_path, "--json", tmp_path], 2, "--json")
    _one_line(capsys, ["benchmark", tmp_path, "--plot", tmp_path / "no" / "plot.png"], 2, "does not exist")
    (tmp_path / "file").write_text("x")
    _one_line(capsys, ["benchmark", tmp_path, "--work-dir", tmp_path / "file"], 2, "is not a folder")
