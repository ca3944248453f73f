"""Staging and commit: one swap, kept files, rollback, stale staging, concurrent commits."""

import os
import threading

import pytest

from transformers_export.output import staging
from transformers_export.errors import OutputError


def _tree(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_new_output_is_the_staging_folder_renamed(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with staging.staged_output(out) as folder:
        (folder / "model.onnx").write_text("new")
    assert _tree(out) == {"model.onnx": b"new"}
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_existing_output_is_swapped_whole_and_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "model.onnx").write_text("old")
    (out / "notes.txt").write_text("mine")
    (out / "sub" / "x").write_text("kept")
    inode = (out / "notes.txt").stat().st_ino
    with staging.staged_output(out) as folder:
        (folder / "model.onnx").write_text("new")
    assert _tree(out) == {"model.onnx": b"new", "notes.txt": b"mine", "sub/x": b"kept"}
    assert (out / "notes.txt").stat().st_ino == inode, "kept files are hard-linked, not copied"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_leaves_output_and_parents_as_they_were(tmp_path, error):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_text("old")
    with pytest.raises(type(error)):
        with staging.staged_output(out) as folder:
            (folder / "model.onnx").write_text("new")
            raise error
    assert _tree(out) == {"model.onnx": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(RuntimeError):
        with staging.staged_output(tmp_path / "x" / "y" / "out"):
            raise RuntimeError
    assert not (tmp_path / "x").exists()


def test_failed_swap_leaves_output_unchanged(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_text("old")

    def broken(first, second):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(staging, "exchange", broken)
    with pytest.raises(OutputError, match="cannot move the export into"):
        with staging.staged_output(out) as folder:
            (folder / "model.onnx").write_text("new")
    assert _tree(out) == {"model.onnx": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_two_rename_fallback_swaps_too(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "_renameat2", lambda: None)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "f").write_text("1")
    (second / "f").write_text("2")
    staging.exchange(first, second)
    assert (first / "f").read_text() == "2" and (second / "f").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_stale_staging_of_a_dead_export_is_removed_and_a_live_one_kept(tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / f"{staging.staging_prefix(out)}999-dead"
    stale.mkdir()
    (stale / "model.onnx").write_text("half")
    other = tmp_path / ".other.staging-1-x"
    other.mkdir()
    with staging.staged_output(out) as folder:
        assert not stale.exists() and other.exists()
        # our own staging is held while we run: another export must not take it for stale
        assert staging.remove_stale_staging(out) == [] and folder.exists()
        (folder / "f").write_text("x")


def test_concurrent_commits_never_mix(tmp_path):
    out = tmp_path / "out"
    barrier = threading.Barrier(4)
    errors = []

    def export(tag):
        try:
            with staging.staged_output(out) as folder:
                for name in ("a", "b", "c"):
                    (folder / name).write_text(tag)
                barrier.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass  # another thread failed: its error is the one to report
        except Exception as error:  # surfaced below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=export, args=(str(i),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    contents = {(out / name).read_text() for name in ("a", "b", "c")}
    assert len(contents) == 1, f"files from different exports: {contents}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_output_checks(tmp_path):
    from transformers_export.errors import InvalidArgumentError

    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidArgumentError, match="is a symlink to .* which does not exist"):
        staging.check_output(tmp_path / "dangling")
    with pytest.raises(InvalidArgumentError, match="is the checkpoint folder itself"):
        staging.check_output(tmp_path, source=tmp_path)
    with pytest.raises(InvalidArgumentError, match="looks like a file"):
        staging.check_output(tmp_path / "model.onnx")
