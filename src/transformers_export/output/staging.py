"""Atomic output: everything is written into a staging folder beside the output, which replaces it in one step.

- **One swap.** The staging folder receives the new files and hard links to the files of the existing output that
  the export does not replace; then the two folders trade places with one `renameat2(RENAME_EXCHANGE)` (Linux). A
  reader, an interrupt or a concurrent export sees the old folder or the new one, never a mix. Where the exchange is
  unavailable (other systems, file systems without it) the fallback is two renames: the old folder moves aside, then
  the new one moves in; between them the output is briefly absent, but never mixed.
- **One writer at a time.** Commits into one parent folder are serialised by a lock on that folder, so two exports
  into the same output commit one after the other; the last one wins whole.
- **No staging left behind.** A live export holds a lock on its staging folder. The next export into the same place
  removes staging folders whose lock is free (their process was killed, or the machine lost power). Staging folders
  are made and locked under the parent's lock, as that sweep runs, so a fresh one is never taken for stale.
- Signals are deferred during the swap itself, so an interrupt lands before it (nothing changed) or after it (the
  export is in place, and the interrupt says so).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import logging
import os
import secrets
import shutil
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ExportError, InvalidArgumentError, OutputError
from .signals import deferred

logger = logging.getLogger(__name__)

STAGING_MARK = ".staging-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def staging_prefix(output: Path) -> str:
    return f".{output.name}{STAGING_MARK}"


@contextmanager
def staged_output(output: Path) -> Iterator[Path]:
    """Yield an empty staging folder; when the block succeeds, it becomes `output` in one swap. On any failure or
    interrupt, the staging folder and any parent folders made for it are removed and `output` is unchanged."""
    output = Path(output)
    parent = output.absolute().parent
    created = _make_parents(parent)
    staging = parent / f"{staging_prefix(output)}{os.getpid()}-{secrets.token_hex(4)}"
    committed = False
    try:
        with ExitStack() as held:
            # Under the parent's lock, so that another export's stale-staging sweep can neither probe nor remove a
            # staging folder between its creation and its lock.
            with _flocked(parent, wait=True):
                remove_stale_staging(output)
                try:
                    staging.mkdir(mode=0o777)  # the umask applies, as for any folder the user makes
                except OSError as error:
                    raise OutputError(f"cannot write next to '{output}': {error.strerror or error}") from error
                held.enter_context(_flocked(staging, wait=False))
            try:
                yield staging
            except OSError as error:
                if isinstance(error, ExportError) or error.errno is None:
                    raise
                # a full disk, a quota, a read-only file system: the writer's own error, said as one about the output
                raise OutputError(f"cannot write the export next to '{output}': {error.strerror or error}") from error
            with deferred():
                commit(staging, output)
                committed = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not committed:
            for folder in created:
                try:
                    folder.rmdir()
                except OSError:
                    pass


def commit(staging: Path, output: Path) -> None:
    """Make `staging` the content of `output`, keeping the output's other files, in one swap."""
    parent = output.absolute().parent
    with _flocked(parent, wait=True):
        try:
            if output.is_dir() and not output.is_symlink():
                _link_kept_files(output, staging)
                exchange(staging, output)
                shutil.rmtree(staging, ignore_errors=True)  # the old content, now at the staging path
            else:
                os.rename(staging, output)
        except OSError as error:
            raise OutputError(f"cannot move the export into '{output}': {error.strerror or error}") from error


def _link_kept_files(output: Path, staging: Path) -> None:
    for entry in output.iterdir():
        target = staging / entry.name
        if target.exists() or target.is_symlink() or entry.name.startswith(staging_prefix(output)):
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        elif entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, target)


def _link_or_copy(source, target) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


_libc = None


def _renameat2():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return getattr(_libc, "renameat2", None)


def exchange(first: Path, second: Path) -> None:
    """Swap two existing paths atomically (`renameat2(RENAME_EXCHANGE)`), or with the two-rename fallback."""
    function = _renameat2()
    if function is not None:
        result = function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(second))
    aside = second.with_name(f"{second.name}.replaced-{secrets.token_hex(4)}")
    aside = aside.with_name(f"{staging_prefix(second)}{aside.name}")
    os.rename(second, aside)
    try:
        os.rename(first, second)
    except OSError:
        os.rename(aside, second)
        raise
    os.rename(aside, first)


def remove_stale_staging(output: Path) -> list[Path]:
    """Remove staging folders of `output` that no live export holds; return them."""
    parent = output.absolute().parent
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        if (
            entry.name.startswith(staging_prefix(output))
            and entry.is_dir()
            and not entry.is_symlink()
            and not _is_held(entry)
        ):
            shutil.rmtree(entry, ignore_errors=True)
            logger.info("removed %s, left by an export that did not finish", entry)
            removed.append(entry)
    return removed


@contextmanager
def _flocked(folder: Path, wait: bool) -> Iterator[None]:
    """An exclusive lock on a folder for the block: waited for, or required at once (`BlockingIOError`)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _is_held(folder: Path) -> bool:
    try:
        with _flocked(folder, wait=False):
            return False
    except BlockingIOError:
        return True
    except OSError:
        return True  # vanished or unreadable: not ours to remove


def _make_parents(parent: Path) -> list[Path]:
    """Create the missing folders above the output; return them, innermost first, to undo on failure."""
    missing = []
    folder = parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    try:
        for created in reversed(missing):
            created.mkdir()
    except OSError as error:
        for created in missing:
            try:
                created.rmdir()
            except OSError:
                pass
        raise InvalidArgumentError(
            f"the output is not writable: cannot create '{parent}': {error.strerror or error}"
        ) from error
    return missing


def check_output(output: Path, source: Path | None = None) -> None:
    """Refuse, before any work, an output that cannot become a folder of exported files."""
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
    ancestor = output.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidArgumentError(f"cannot create output '{output}': '{ancestor}' is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"output '{output}' is not writable (no write permission on '{ancestor}')")
