"""A checkpoint that holds none of the model's weights is refused (exit 2, nothing written), instead of exporting a
random model that validation cannot tell from the real one; a task head new to a base checkpoint is only a warning."""

import shutil

import pytest
from safetensors.torch import load_file, save_file

from transformers_export import cli, export_model
from transformers_export.errors import CheckpointError


def _copy(tiny_checkpoint, tmp_path, tensors):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint("bert"), folder)
    save_file(tensors(load_file(folder / "model.safetensors")), folder / "model.safetensors")
    return folder


@pytest.mark.parametrize(
    "tensors, found",
    [
        (lambda weights: {}, "it holds no tensors"),
        (
            lambda weights: {f"other.{name}": value for name, value in weights.items()},
            r"its \d+ tensor\(s\) have other names",
        ),
    ],
    ids=["empty", "renamed"],
)
def test_a_weightless_checkpoint_is_refused(tiny_checkpoint, tmp_path, tensors, found):
    folder = _copy(tiny_checkpoint, tmp_path, tensors)
    with pytest.raises(CheckpointError, match=rf"holds none of the \d+ weights of BertModel \({found}") as raised:
        export_model(str(folder), tmp_path / "out")
    assert raised.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_the_cli_says_it_in_one_line_with_exit_2(tiny_checkpoint, tmp_path, capsys):
    folder = _copy(tiny_checkpoint, tmp_path, lambda weights: {})
    assert cli.main(["-m", str(folder), str(tmp_path / "out")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "holds none of the" in errors[0] and errors[0].endswith("trained weights")
    assert not (tmp_path / "out").exists()


def test_a_new_task_head_on_a_base_checkpoint_is_only_a_warning(tiny_checkpoint, tmp_path, caplog):
    result = export_model(str(tiny_checkpoint("bert")), tmp_path / "out", feature="sequence-classification")
    assert result.validation.passed
    assert any("untrained" in record.getMessage() for record in caplog.records)
