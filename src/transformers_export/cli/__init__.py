"""`transformers-export` / `python -m transformers_export`: the table of commands. `export` (the default command)
is in `export.py`, the others in `commands.py`."""

from __future__ import annotations

import os
import sys

from ..errors import InvalidArgumentError, did_you_mean
from ..output.signals import handling_signals
from .commands import COMMANDS
from .common import fail
from .console import cli_logging
from .export import build_parser, export

__all__ = ["build_parser", "main", "run"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in COMMANDS:
        return COMMANDS[argv[0]].main(argv[1:])
    try:
        if not argv:
            raise InvalidArgumentError("missing --model and the output folder (see transformers-export --help)")
        _check_command_name(argv)
        args = build_parser().parse_args(argv)
    except InvalidArgumentError as error:
        return fail(error, False, error.exit_code)
    with cli_logging(args.verbose), handling_signals():
        return export(args)


def _check_command_name(argv: list[str]) -> None:
    """A first word that is nearly a subcommand, in a command line without --model, is a misspelt subcommand (an
    export always names its model), not an output folder."""
    if argv[0].startswith("-") or any(arg in ("-m", "--model") or arg.startswith("--model=") for arg in argv):
        return
    if suggestion := did_you_mean(argv[0], COMMANDS):
        raise InvalidArgumentError(
            f"unknown command '{argv[0]}';{suggestion} (commands: {', '.join(COMMANDS)}; "
            "an export is transformers-export -m MODEL OUTPUT)"
        )


def run() -> None:
    """Console entry point. Skips interpreter teardown (about 1.5 s of torch/onnxruntime destructors) once every
    file is written and closed: the export is committed by then, and nothing else is pending."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
