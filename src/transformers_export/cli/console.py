"""What the CLI shows a person: its log format, the stage lines, and live progress while a stage runs."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator

# stage -> (line while it runs, line when it is done)
STAGE_LABELS = {
    "resolve": ("loading the model", "loaded the model"),
    "trace": ("tracing and writing the model", "traced and wrote the model"),
    "validate": ("validating against PyTorch", "validated against PyTorch"),
    "quantize": ("quantizing and validating again", "quantized and validated again"),
    "write": ("writing config, preprocessor and export.json", "wrote config, preprocessor and export.json"),
    "write-without-preprocessor": ("writing config and export.json", "wrote config and export.json"),
}


class _StderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a message is logged, not when the handler was made (notebooks and test
    runners replace it)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@contextmanager
def cli_logging(verbose: bool) -> Iterator[None]:
    """The CLI's log format and levels while a command runs; the caller's logging is restored afterwards (`main` may
    be called in-process)."""
    import transformers

    package_logger = logging.getLogger("transformers_export")
    saved = (package_logger.handlers[:], package_logger.level, package_logger.propagate)
    saved_transformers = (transformers.logging.get_verbosity(), transformers.utils.logging.is_progress_bar_enabled())
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    package_logger.propagate = False
    if not verbose:
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        package_logger.handlers[:], level, package_logger.propagate = saved
        package_logger.setLevel(level)
        transformers.logging.set_verbosity(saved_transformers[0])
        if saved_transformers[1]:
            transformers.logging.enable_progress_bar()


class Display:
    """Stage lines on stderr and, on a terminal, something live while a stage runs: a bar where the stage reports
    progress (bytes of weights written, validation runs), else a ticking elapsed time. Nothing live goes into logs."""

    def __init__(self):
        self.bar = None
        self.bar_name: str | None = None
        self.live = sys.stderr.isatty()
        self.ticker: tuple | None = None  # (stop event, thread)

    def stage(self, name: str, seconds: float | None) -> None:
        running, done = STAGE_LABELS.get(name, (name, name))
        if seconds is None:
            print(f"[ ...  ] {running}", file=sys.stderr, flush=True)
            self._tick(running)
            return
        self.close()
        print(f"[{seconds:6.2f}s] {done}", file=sys.stderr, flush=True)

    def _tick(self, label: str) -> None:
        if not self.live:
            return
        import threading
        import time

        stop, start = threading.Event(), time.monotonic()

        def run():
            while not stop.wait(0.5):
                if self.bar is None:
                    print(f"\r         {label}: {time.monotonic() - start:4.0f}s", end="", file=sys.stderr, flush=True)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.ticker = (stop, thread)

    def progress(self, name: str, done: float, total: float | None, unit: str) -> None:
        """`total` None: steps counted without a known end (a bar with a count and a rate, no ETA)."""
        if self.bar is not None and self.bar_name != name:
            self.bar.close()
            self.bar = None
        if self.bar is None:
            from tqdm import tqdm

            label = {
                "trace": "writing weights",
                "references": "PyTorch forwards",
                "validate": "validation runs",
            }.get(name, name)
            self.bar_name = name
            scale = unit == "B"
            if self.live:
                print("\r\033[K", end="", file=sys.stderr, flush=True)  # the ticker's line makes way for the bar
            self.bar = tqdm(
                total=total,
                desc=label,
                unit=unit,
                unit_scale=scale,
                unit_divisor=1024 if scale else 1000,
                file=sys.stderr,
                disable=None,
                leave=False,
            )
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def note(self, text: str) -> None:
        """A step of a command without named stages (the benchmark's): a line, and elapsed time while it runs."""
        self.close()
        print(f"[ ...  ] {text}", file=sys.stderr, flush=True)
        self._tick(text)

    def counter(self, total: int):
        """A bar of `total` steps; returns the function that advances it by one."""
        self.close()
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="measuring", unit="run", file=sys.stderr, disable=None, leave=False)
        return lambda: self.bar.update(1) if self.bar is not None else None

    def close(self) -> None:
        if self.ticker is not None:
            stop, thread = self.ticker
            stop.set()
            thread.join()
            self.ticker = None
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def table(rows: list[list[str]], header: list[str], right_aligned: bool = False) -> list[str]:
    """Plain-text columns under a header and a rule; `right_aligned` right-aligns every column but the first
    (numbers)."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        cells = [
            str(cell).rjust(width) if right_aligned and i else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]
