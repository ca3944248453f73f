"""The output folder: an export is written into a staging folder inside it, then committed in place.

What an export may change in the output folder, and nothing else:
- the files it writes (each replaced whole, by a rename);
- the files the previous export's `export.json` lists as written by it (removed when the new export has no file of
  that name);
- its own staging folders, `.transformers-export-staging-*`.

It never moves, copies or removes any other entry: the user's files and subfolders stay where they are, with their
inodes; a mount point inside the folder is not entered; symlinked subfolders are not written through. The folder
itself is never replaced, so its mode, owner, and any mount on it are kept, and the output may be a mount point (a
Docker volume), `.`, or a folder whose parent is read-only.

- **Staging inside the output**: the same file system, so every move of the commit is a rename; the staging name is
  short and fixed, whatever the output's name. A missing output folder (and its missing parents) is created first and
  removed again if the export fails.
- **The commit** runs under a lock on the output folder, so two exports into one output commit one after the other
  and the last one wins whole. It first writes a journal, then removes `export.json`, renames the new files into
  place, removes the previous export's files the new one did not replace, and renames the new `export.json` in last:
  that rename is the commit point. While a commit runs the folder has no `export.json`, so a reader refuses it rather
  than load a mix; the runtime checks that `export.json` did not change while it opened the graphs.
- **Signals** are deferred during the commit and the clean-up, so an interrupt lands before the commit (nothing
  changed) or after it (the export is in place, and the interrupt says so). A commit cut short by SIGKILL or a power
  loss leaves its journal; the next export into the folder completes it first (roll forward), so the folder never
  stays with a half-replaced export.
- **No staging left behind.** A live export holds a lock on its staging folder; the next export removes staging folders
  whose lock is free. They are created under the output's lock, so a fresh one is never taken for stale.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ExportError, InvalidArgumentError, OutputError
from .commit import JOURNAL, RolledBack, commit, finish, flocked
from .signals import deferred, shielded

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".transformers-export-staging-"
NAME_MAX = 255
PATH_MAX = 4096


@contextmanager
def staged_output(output: Path) -> Iterator[Path]:
    """Yield an empty staging folder inside `output`; when the block succeeds, its files are committed into `output`.
    On any failure or interrupt, the staging folder and the folders made for it are removed and `output` is
    unchanged."""
    output = Path(os.path.abspath(output))
    staging = output / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    committed, created = False, []
    try:
        with ExitStack() as held:
            for _ in range(3):
                created = _make_folders(output)
                # Under the output's lock, so that another export's stale-staging sweep can neither probe nor remove
                # a staging folder between its creation and its lock.
                with flocked(output, wait=True) as fd:
                    if os.fstat(fd).st_nlink == 0:
                        continue  # a concurrent export that failed removed the folder it had made: make it again
                    remove_stale_staging(output)
                    try:
                        staging.mkdir(mode=0o777)  # the umask applies, as for any folder the user makes
                    except OSError as error:
                        raise OutputError(f"cannot write into '{output}': {error.strerror or error}") from error
                    held.enter_context(flocked(staging, wait=False))
                    break
            else:
                raise OutputError(f"cannot write into '{output}': other exports keep removing it")
            try:
                yield staging
            except OSError as error:
                if isinstance(error, ExportError) or error.errno is None:
                    raise
                # a full disk, a quota, a read-only file system: the writer's own error, said as one about the output
                raise OutputError(f"cannot write the export into '{output}': {error.strerror or error}") from error
            with deferred():
                commit(staging, output)
                committed = True
                _remove_tree(staging)
    finally:
        with shielded():  # a second Ctrl-C must not leave half a staging folder behind
            # a journal left means a commit that could neither finish nor be undone: the next export completes it
            if staging.exists() and not (staging / JOURNAL).exists():
                _remove_tree(staging)
            if not committed:
                _remove_made_folders(created)


def _remove_tree(folder: Path) -> None:
    """Remove a staging folder: never following a symlink, never entering another file system."""
    try:
        device = os.lstat(folder).st_dev
    except FileNotFoundError:
        return

    def remove(path: str) -> None:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.stat(follow_symlinks=False).st_dev == device:
                            remove(entry.path)
                    else:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    pass
        os.rmdir(path)

    try:
        remove(str(folder))
    except OSError as error:
        logger.warning("could not remove the staging folder %s: %s", folder, error.strerror or error)


def remove_stale_staging(output: Path) -> list[Path]:
    """Remove the staging folders in `output` that no live export holds, first completing any commit one of them
    had begun; return them. Called under the output's lock."""
    removed = []
    if not output.is_dir():
        return removed
    for entry in output.iterdir():
        if not entry.name.startswith(STAGING_PREFIX) or entry.is_symlink() or not entry.is_dir() or _is_held(entry):
            continue
        if (entry / JOURNAL).is_file():
            try:
                finish(entry, output)
                logger.warning("completed the commit of an export into %s that was cut short", output)
            except (OSError, ValueError, RolledBack) as error:
                logger.warning("could not complete the interrupted commit in %s: %s", entry, error)
                continue
        _remove_tree(entry)
        logger.info("removed %s, left by an export that did not finish", entry)
        removed.append(entry)
    return removed


def _is_held(folder: Path) -> bool:
    try:
        with flocked(folder, wait=False):
            return False
    except BlockingIOError:
        return True
    except OSError:
        return True  # vanished or unreadable: not ours to remove


def _make_folders(output: Path) -> list[Path]:
    """Create the output folder and the missing folders above it; return those this call made, innermost first, to
    remove if the export fails. A folder another export makes at the same moment is theirs, not ours."""
    missing = []
    folder = output
    while not folder.exists() and not folder.is_symlink():
        missing.append(folder)
        folder = folder.parent
    made = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
                made.insert(0, folder)
            except FileExistsError:
                if not folder.is_dir():
                    raise
    except OSError as error:
        _remove_made_folders(made)
        if error.errno == errno.ENAMETOOLONG:
            raise InvalidArgumentError(f"output '{output}' is too long a path for this system") from error
        raise InvalidArgumentError(
            f"the output is not writable: cannot create '{folder}': {error.strerror or error}"
        ) from error
    return made


def _remove_made_folders(made: list[Path]) -> None:
    """Remove the folders an export made, when they are empty; each under its lock, so that a concurrent export that
    is about to stage into it sees it gone (and makes it again) rather than staging into a removed folder."""
    for folder in made:
        try:
            with flocked(folder, wait=True):
                folder.rmdir()
        except OSError:
            break  # not empty (another export's, or the user's): it and the folders above it stay


def check_output(output: Path, source: Path | None = None) -> None:
    """Refuse, before any work, an output that cannot become a folder of exported files."""
    output = Path(output)
    _check_length(output)
    if output.suffix in (".onnx", ".pt", ".pt2"):
        raise InvalidArgumentError(
            f"output '{output}' looks like a file; pass a folder (the model file is written inside it)"
        )
    if output.is_symlink() and not output.exists():
        raise InvalidArgumentError(f"output '{output}' is a symlink to '{os.readlink(output)}', which does not exist")
    if output.exists() and not output.is_dir():
        raise InvalidArgumentError(f"output '{output}' exists and is not a folder")
    if source is not None and output.exists() and source.exists() and output.resolve() == source.resolve():
        raise InvalidArgumentError(
            f"output '{output}' is the checkpoint folder itself; write the export to another folder"
        )
    if output.is_dir():
        if not os.access(output, os.W_OK | os.X_OK):
            raise InvalidArgumentError(f"output '{output}' is not writable (no write permission on the folder)")
        return
    ancestor = Path(os.path.abspath(output)).parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidArgumentError(f"cannot create output '{output}': '{ancestor}' is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"output '{output}' is not writable (no write permission on '{ancestor}')")


def _check_length(output: Path) -> None:
    absolute = os.fsencode(os.path.abspath(output))
    longest = max((part for part in absolute.split(b"/")), key=len, default=b"")
    if len(longest) > NAME_MAX:
        raise InvalidArgumentError(
            f"output '{output}' has a name of {len(longest)} bytes; file systems allow {NAME_MAX} "
            "(choose a shorter one)"
        )
    # room for the staging folder and the longest file name an export writes inside it
    if len(absolute) + len(STAGING_PREFIX) + 64 > PATH_MAX:
        raise InvalidArgumentError(
            f"output '{output}' is a path of {len(absolute)} bytes; with the files written inside it, it would pass "
            f"the system's limit of {PATH_MAX} (choose a shorter one)"
        )
