"""The output folder is checked before any work: each impossible output is one line naming it."""

import pytest

from transformers_export.errors import InvalidArgumentError
from transformers_export.output.staging import check_output


@pytest.mark.parametrize("name", ["model.onnx", "model.pt", "model.pt2"])
def test_a_file_name_is_refused(tmp_path, name):
    with pytest.raises(InvalidArgumentError, match="looks like a file; pass a folder"):
        check_output(tmp_path / name)


def test_an_existing_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(InvalidArgumentError, match="exists and is not a folder"):
        check_output(tmp_path / "out")


def test_a_dangling_symlink_is_refused(tmp_path):
    (tmp_path / "out").symlink_to(tmp_path / "missing")
    with pytest.raises(InvalidArgumentError, match="is a symlink to .* which does not exist"):
        check_output(tmp_path / "out")


def test_the_checkpoint_folder_itself_is_refused(tmp_path):
    with pytest.raises(InvalidArgumentError, match="is the checkpoint folder itself"):
        check_output(tmp_path, source=tmp_path)


def test_a_file_on_the_way_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgumentError, match="is a file"):
        check_output(tmp_path / "file" / "deeper" / "out")


def test_a_new_nested_folder_is_accepted(tmp_path):
    check_output(tmp_path / "a" / "b" / "out")
    assert not (tmp_path / "a").exists(), "checking creates nothing"
