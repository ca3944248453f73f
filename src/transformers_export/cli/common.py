"""What every `transformers-export` command shares: one-line argument errors, one-line failures, interrupt reports."""

from __future__ import annotations

import argparse
import sys
import traceback

from ..errors import Interrupted, InvalidArgumentError, did_you_mean, first_line


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (`InvalidArgumentError`, exit 2) instead of a usage block."""

    def error(self, message: str):
        raise InvalidArgumentError(f"{message} (see {self.prog} --help)")

    def _check_value(self, action, value):
        # argparse's own check lists the choices; a near miss also gets the one meant (`--format onxx`)
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r};{did_you_mean(value, action.choices)} choose from {choices}"
            )


def interrupted(interrupt: KeyboardInterrupt) -> int:
    name = f" by {interrupt.args[0]}" if isinstance(interrupt, Interrupted) else ""
    if getattr(interrupt, "after_commit", False):
        print(f"error: interrupted{name} right after the export was written in full", file=sys.stderr)
    else:
        print(f"error: interrupted{name}; the output folder was left as it was", file=sys.stderr)
    return interrupt.exit_code if isinstance(interrupt, Interrupted) else 130


def fail(error: BaseException, verbose: bool, code: int, prefix: str = "") -> int:
    if verbose:
        traceback.print_exception(error)
    message = first_line(error)
    hint = "" if verbose else " (run with --verbose for details)" if prefix else ""
    print(f"error: {prefix}{message}{hint}", file=sys.stderr)
    return code
