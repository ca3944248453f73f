"""The commit into the output folder: only our files change; the user's entries, mounts, the folder's mode and owner
stay; a failure part-way is undone; a killed commit is completed by the next export; concurrent commits never mix."""

import json
import os
import subprocess
import threading

import pytest

from transformers_export.errors import InvalidArgumentError, OutputError
from transformers_export.output import commit, staging
from transformers_export.output.manifest import MANIFEST


def _tree(folder):
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and staging.STAGING_PREFIX not in str(path)
    }


def _stagings(folder):
    return sorted(folder.rglob(f"{staging.STAGING_PREFIX}*"))


def _export(out, files, manifest_files=None):
    """Commit `files` ({relative path: text}) with an export.json listing them, as the pipeline does."""
    with staging.staged_output(out) as folder:
        for relative, text in files.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        listed = sorted({*files, MANIFEST}) if manifest_files is None else manifest_files
        (folder / MANIFEST).write_text(json.dumps({"files": listed}))


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture
def tmpfs(tmp_path):
    """`tmpfs(path, *options)` mounts a small tmpfs (as root); skipped where mounting is not allowed."""
    mounted = []

    def mount(path, *options):
        path.mkdir(parents=True, exist_ok=True)
        command = ["mount", "-t", "tmpfs", "-o", ",".join(["size=4m", *options]), "tmpfs", str(path)]
        if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode:
            pytest.skip("mounting a tmpfs needs root (the mount cases are covered where the tests run as root)")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_new_output_gets_the_files_and_nothing_else(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    _export(out, {"model.onnx": "new"})
    assert _tree(out) == {"model.onnx": b"new", MANIFEST: json.dumps({"files": [MANIFEST, "model.onnx"]}).encode()}
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    assert not _stagings(tmp_path)


def test_only_our_files_change_and_the_users_keep_their_inodes(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (out / "sub" / "x").write_text("kept")
    _export(out, {"model.onnx": "old", "old_graph.onnx": "old", "sub/ours": "old"})
    inodes = {name: (out / name).stat().st_ino for name in ("notes.txt", "sub", "sub/x")}
    _export(out, {"model.onnx": "new"})
    tree = _tree(out)
    assert tree["model.onnx"] == b"new" and tree["notes.txt"] == b"mine" and tree["sub/x"] == b"kept"
    assert "old_graph.onnx" not in tree and "sub/ours" not in tree, "the previous export's own files go"
    assert {name: (out / name).stat().st_ino for name in inodes} == inodes, "the user's entries are never moved"
    assert not _stagings(tmp_path)


def test_files_a_previous_manifest_lists_outside_the_folder_are_never_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "precious").write_text("x")
    (out / "folder").mkdir()
    (out / MANIFEST).write_text(json.dumps({"files": ["../precious", str(tmp_path / "precious"), "folder"]}))
    _export(out, {"model.onnx": "new"})
    assert (tmp_path / "precious").exists() and (out / "folder").is_dir()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_leaves_the_output_and_its_parents_as_they_were(tmp_path, error):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_text("old")
    with pytest.raises(type(error)):
        with staging.staged_output(out) as folder:
            (folder / "model.onnx").write_text("new")
            raise error
    assert _tree(out) == {"model.onnx": b"old"} and not _stagings(tmp_path)
    with pytest.raises(RuntimeError):
        with staging.staged_output(tmp_path / "x" / "y" / "out"):
            raise RuntimeError
    assert not (tmp_path / "x").exists()


def test_a_commit_failing_part_way_is_undone(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _export(out, {"a": "old", "b": "old", "gone": "old"})
    before = _tree(out)
    real_replace, calls = os.replace, []

    def failing(source, target):
        calls.append(target)
        if len(calls) == 3:  # after the journal and the first file: the second file fails
            raise OSError(5, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(commit.os, "replace", failing)
    with pytest.raises(OutputError, match="Input/output error; it was left as it was"):
        _export(out, {"a": "new", "b": "new"})
    monkeypatch.setattr(commit.os, "replace", real_replace)
    assert _tree(out) == before and not _stagings(tmp_path)


def test_a_killed_commit_is_completed_by_the_next_export(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _export(out, {"a": "old", "b": "old", "gone": "old"})

    class Killed(BaseException):
        pass

    real_replace, calls = os.replace, []

    def dying(source, target):
        calls.append(target)
        if len(calls) == 3:  # after the journal, "a" is in place, "b" not yet: the process dies (no clean-up runs)
            raise Killed
        return real_replace(source, target)

    monkeypatch.setattr(commit.os, "replace", dying)
    monkeypatch.setattr(staging, "_remove_tree", lambda folder: None)  # SIGKILL runs no finally
    monkeypatch.setattr(staging, "_make_folders", lambda output: [])
    with pytest.raises(Killed):
        _export(out, {"a": "new", "b": "new"})
    monkeypatch.undo()
    assert not (out / MANIFEST).exists(), "mid-commit, the folder has no export.json: readers refuse it"
    assert len(_stagings(out)) == 1
    staging.remove_stale_staging(out)  # what the next export does first, under the folder's lock
    assert _tree(out) == {"a": b"new", "b": b"new", MANIFEST: json.dumps({"files": ["a", "b", MANIFEST]}).encode()}
    assert not _stagings(out)


def test_something_of_the_users_in_the_way_is_refused_before_any_change(tmp_path):
    out = tmp_path / "out"
    _export(out, {"config.json": "old"})
    (out / "model.onnx").mkdir()
    (out / "model.onnx" / "mine").write_text("x")
    before = _tree(out)
    with pytest.raises(OutputError, match="is a folder in the way of the export's file"):
        _export(out, {"config.json": "new", "model.onnx": "new"})
    assert _tree(out) == before and not _stagings(tmp_path)


def test_a_symlinked_subfolder_is_not_written_through(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir(), elsewhere.mkdir()
    (out / "onnx").symlink_to(elsewhere)
    with pytest.raises(OutputError, match="is in the way of the export's 'onnx/model.onnx'"):
        _export(out, {"onnx/model.onnx": "new"})
    assert list(elsewhere.iterdir()) == []


def test_a_volume_mounted_inside_the_output_is_never_touched(tmp_path, tmpfs):
    out = tmp_path / "out"
    data = tmpfs(out / "data")
    (data / "user.txt").write_text("precious")
    _export(out, {"model.onnx": "one"})
    (out / MANIFEST).write_text(json.dumps({"files": ["model.onnx", "data/user.txt", "data"]}))  # even if listed
    _export(out, {"model.onnx": "two"})
    assert (data / "user.txt").read_text() == "precious" and os.path.ismount(data)
    assert (out / "model.onnx").read_text() == "two" and not _stagings(tmp_path)


def test_an_output_that_is_a_mount_point_under_a_read_only_parent(tmp_path, tmpfs):
    parent = tmpfs(tmp_path / "parent")
    out = parent / "out"
    out.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(parent)], check=True)
    tmpfs(out)  # a Docker-style volume: the output is a mount point, its parent cannot be written
    (out / "user.txt").write_text("mine")
    staging.check_output(out)
    _export(out, {"model.onnx": "one"})
    _export(out, {"model.onnx": "two"})
    assert _tree(out)["model.onnx"] == b"two" and (out / "user.txt").read_text() == "mine"
    assert os.path.ismount(out) and not _stagings(out)


def test_the_current_folder_as_output(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _export(out, {"model.onnx": "one"})
    monkeypatch.chdir(out)
    staging.check_output(staging.Path("."))
    _export(staging.Path("."), {"model.onnx": "two"})
    assert (out / "model.onnx").read_text() == "two" and not _stagings(tmp_path)


def test_the_folders_mode_and_owner_are_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o2775)
    if os.geteuid() == 0:
        os.chown(out, 1234, 1234)
    before = out.stat()
    _export(out, {"model.onnx": "new"})
    after = out.stat()
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_ino) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
        before.st_ino,
    )


def test_long_names(tmp_path):
    out = tmp_path / ("o" * 240)  # legal: the staging name does not grow with it
    staging.check_output(out)
    _export(out, {"model.onnx": "new"})
    assert (out / "model.onnx").read_text() == "new"
    with pytest.raises(InvalidArgumentError, match="has a name of 256 bytes; file systems allow 255"):
        staging.check_output(tmp_path / ("o" * 256))
    deep = tmp_path.joinpath(*["d" * 200] * 21)
    with pytest.raises(InvalidArgumentError, match="would pass the system's limit of 4096"):
        staging.check_output(deep)


def test_stale_staging_of_a_dead_export_is_removed_and_a_live_one_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f"{staging.STAGING_PREFIX}999-dead"
    stale.mkdir()
    (stale / "model.onnx").write_text("half")
    with staging.staged_output(out) as folder:
        assert not stale.exists()
        # our own staging is held while we run: another export must not take it for stale
        assert staging.remove_stale_staging(out) == [] and folder.exists()
        (folder / "f").write_text("x")


def test_a_second_interrupt_during_clean_up_still_removes_the_staging_folder(tmp_path, monkeypatch):
    import signal

    from transformers_export.errors import Interrupted
    from transformers_export.output.signals import handling_signals

    out = tmp_path / "out"
    real_remove = staging._remove_tree

    def interrupted_removal(folder):
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, while the first one's clean-up runs
        real_remove(folder)

    monkeypatch.setattr(staging, "_remove_tree", interrupted_removal)
    with handling_signals(), pytest.raises(Interrupted):
        with staging.staged_output(out) as folder:
            (folder / "model.onnx").write_text("new")
            os.kill(os.getpid(), signal.SIGINT)
    assert not out.exists(), "the folder made for the export is gone with its staging folder"


def test_concurrent_commits_never_mix(tmp_path):
    out = tmp_path / "out"
    barrier = threading.Barrier(4)
    errors = []

    def export(tag):
        try:
            with staging.staged_output(out) as folder:
                for name in ("a", "b", "c"):
                    (folder / name).write_text(tag)
                (folder / MANIFEST).write_text(json.dumps({"files": ["a", "b", "c", MANIFEST]}))
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
    assert not _stagings(tmp_path)
