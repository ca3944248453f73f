"""SIGINT, SIGTERM and SIGHUP as an `Interrupted` exception, so every `finally` (staging clean-up) runs.

Python turns only SIGINT into an exception; the default SIGTERM and SIGHUP kill the process on the spot and leave
staging folders behind. `handling_signals()` is used by the CLI around a whole command. The signal that arrived is
remembered (`pending()`), because some libraries turn an interrupt during their import into an ImportError.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from ..errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []
_deferring: list[bool] = []


def _raise(signum, frame):
    _received.append(signum)
    if not _deferring:
        raise Interrupted(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Signals that arrive inside the block are held and raised when it ends (as `Interrupted(after=True)`), so a
    short step that must not be cut in two (the output's swap) completes."""
    received = len(_received)
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
    if len(_received) > received and not _deferring:
        raise Interrupted(_received[-1], after_commit=True)


@contextmanager
def shielded() -> Iterator[None]:
    """Signals that arrive inside the block are held and not raised: for clean-up that runs while an error or an
    interrupt is already on its way out (that one reports the run's end). `pending()` still sees them."""
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()


def pending() -> Interrupted | None:
    """The interrupt that arrived during the current command, if any."""
    return Interrupted(_received[-1]) if _received else None


@contextmanager
def handling_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise) for signum in HANDLED}
    _received.clear()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
