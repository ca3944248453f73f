"""The commit of a staged export into its output folder, and the folder lock that serialises commits.

The steps, and why each is safe, are in `staging`'s docstring. Here: a journal is written into the staging folder
first; every file the commit replaces or removes is kept aside (under `.replaced` in the staging folder) until the
commit point, so that a failure part-way puts everything back; `finish` is idempotent, so that the next export can
complete a commit that a SIGKILL or a power loss cut short.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from ..errors import OutputError
from .manifest import MANIFEST, is_inside_folder

logger = logging.getLogger(__name__)

JOURNAL = ".commit-journal.json"  # inside a staging folder: its commit has begun
REPLACED = ".replaced"  # inside a staging folder: the files its commit replaced, kept until the commit point


def commit(staging: Path, output: Path) -> None:
    """Move the staged files into `output` (see the module's docstring); refuse, before changing anything, when an
    entry that is not ours is in the way of one of them. A failure part-way puts every file back as it was."""
    with flocked(output, wait=True):
        try:
            new = staged_files(staging)
            _check_targets(output, new)
            journal = {"remove": sorted(set(_previous_files(output)) - set(new) - {MANIFEST})}
            temporary = staging / f"{JOURNAL}.tmp"
            temporary.write_text(json.dumps(journal))
            os.replace(temporary, staging / JOURNAL)
        except OSError as error:
            raise OutputError(f"cannot move the export into '{output}': {error.strerror or error}") from error
        try:
            finish(staging, output)
        except RolledBack as rolled_back:
            (staging / JOURNAL).unlink()
            error = rolled_back.__cause__
            raise OutputError(
                f"cannot move the export into '{output}': {error.strerror or error}; it was left as it was"
            ) from error


class RolledBack(Exception):
    """A commit failed part-way and every file it had moved is back in place (the cause is the failure)."""


def finish(staging: Path, output: Path) -> None:
    """Carry out a journaled commit. Idempotent: run again on what a killed commit left, it completes it.

    Every file it replaces or removes is first kept aside (a hard link, or a rename where links are not allowed),
    so that an error before the commit point puts them all back (`RolledBack`); an error in putting them back
    leaves the journal, for the next export to complete the commit."""
    journal = json.loads((staging / JOURNAL).read_text())
    aside = staging / REPLACED
    remaining = staged_files(staging)
    undo: list[tuple[str, bool, bool]] = []  # (path, had an old file, is a new file)
    try:
        if MANIFEST in remaining and (output / MANIFEST).exists():
            _set_aside(output, MANIFEST, aside, keep_in_place=False)
            undo.append((MANIFEST, True, False))
        for relative in remaining:
            if relative == MANIFEST:
                continue
            target = output / relative
            if len(PurePosixPath(relative).parts) > 1:
                target.parent.mkdir(parents=True, exist_ok=True)
            had_old = os.path.lexists(target) and _set_aside(output, relative, aside, keep_in_place=True)
            os.replace(staging / relative, target)
            undo.append((relative, had_old, True))
        for relative in journal["remove"]:
            if _is_ours_to_remove(output, relative):
                _set_aside(output, relative, aside, keep_in_place=False)
                undo.append((relative, True, False))
    except OSError as error:
        try:
            for relative, had_old, is_new in reversed(undo):
                if is_new and not had_old:
                    os.replace(output / relative, staging / relative)
                elif had_old:
                    if is_new:
                        os.replace(output / relative, staging / relative)
                    os.replace(aside / relative, output / relative)
        except OSError:
            logger.warning("could not undo the commit into %s; the next export into it completes it", output)
            raise error
        raise RolledBack() from error
    if MANIFEST in remaining:
        os.replace(staging / MANIFEST, output / MANIFEST)  # the commit point


def _set_aside(output: Path, relative: str, aside: Path, keep_in_place: bool) -> bool:
    """Keep the file at `relative` under `aside`: linked (it stays in place, to be replaced by a rename) or moved."""
    kept = aside / relative
    kept.parent.mkdir(parents=True, exist_ok=True)
    if keep_in_place:
        try:
            os.link(output / relative, kept, follow_symlinks=False)
            return True
        except OSError:
            pass  # a file system without hard links: moved aside, and briefly absent until the new one arrives
    os.rename(output / relative, kept)
    return True


def staged_files(staging: Path) -> list[str]:
    """Every file and symlink under the staging folder, as relative POSIX paths (the journal aside)."""
    found = []
    for root, folders, files in os.walk(staging):
        for name in files + [folder for folder in folders if os.path.islink(os.path.join(root, folder))]:
            relative = Path(root, name).relative_to(staging).as_posix()
            if relative not in (JOURNAL, f"{JOURNAL}.tmp"):
                found.append(relative)
        if root == str(staging) and REPLACED in folders:
            folders.remove(REPLACED)
    return sorted(found)


def _check_targets(output: Path, files: list[str]) -> None:
    device = os.stat(output).st_dev
    for relative in files:
        target = output / relative
        for folder in list(reversed(PurePosixPath(relative).parents))[1:]:
            path = output / folder
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                raise OutputError(f"'{path}' is in the way of the export's '{relative}' (it is not a folder); move it")
            if path.exists() and (os.stat(path).st_dev != device or os.path.ismount(path)):
                raise OutputError(f"'{path}' is a mount point; the export does not write into it (move the mount)")
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"'{target}' is a folder in the way of the export's file of that name; move it")
        if info.st_dev != device or os.path.ismount(target):
            raise OutputError(f"'{target}' is a mount point; the export cannot replace it (move the mount)")


def _previous_files(output: Path) -> list[str]:
    """The files the export now in `output` wrote, as its `export.json` lists them; only safe relative paths."""
    try:
        data = json.loads((output / MANIFEST).read_text())
        files = data.get("files", []) if isinstance(data, dict) else []
    except (OSError, ValueError, RecursionError):
        return []
    return [name for name in files if is_inside_folder(name)]


def _is_ours_to_remove(output: Path, relative: str) -> bool:
    """A file a previous export wrote may go: only a file or symlink, on the output's file system, never a folder,
    and never through a symlinked folder."""
    if any((output / folder).is_symlink() for folder in PurePosixPath(relative).parents if str(folder) != "."):
        return False
    try:
        info = os.lstat(output / relative)
    except FileNotFoundError:
        return False
    return (
        not stat.S_ISDIR(info.st_mode)
        and info.st_dev == os.stat(output).st_dev
        and not os.path.ismount(output / relative)
    )


@contextmanager
def flocked(folder: Path, wait: bool) -> Iterator[int]:
    """An exclusive lock on a folder for the block: waited for, or required at once (`BlockingIOError`)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield fd
    finally:
        os.close(fd)
