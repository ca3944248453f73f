"""The exception hierarchy. Every error a user can cause is one of these; the CLI prints its message as one line."""

from __future__ import annotations


class ExportError(Exception):
    """Base class. `exit_code` is what the CLI returns when this error ends a run."""

    exit_code = 1


class InvalidArgumentError(ExportError, ValueError):
    """An argument is malformed or out of range (opset, atol, output path, sizes...)."""

    exit_code = 2


class UnsupportedModelError(ExportError, KeyError):
    """The model type is unknown to transformers, or has no export configuration."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnsupportedFeatureError(ExportError, ValueError):
    """The feature (task) does not exist, or the model type does not support it."""

    exit_code = 2


class CheckpointError(ExportError, OSError):
    """The checkpoint (config, weights, preprocessor) is missing or cannot be read."""

    exit_code = 2


class PreprocessorError(CheckpointError):
    """A preprocessor was needed or requested and could not be loaded."""


class TraceError(ExportError, RuntimeError):
    """Tracing or converting the model failed."""


class ValidationError(ExportError, ValueError):
    """The exported artifact does not reproduce the PyTorch model. `report` holds every check when available."""

    exit_code = 3

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class MissingDependencyError(ExportError, ImportError):
    """An optional package needed for this operation is not installed."""


class OutputError(ExportError, OSError):
    """The output folder cannot be written (full disk, permissions, a failed rename)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP ended the run. A KeyboardInterrupt, so `except Exception` never swallows it."""

    def __init__(self, signum: int, after_commit: bool = False):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.after_commit = after_commit  # the export was complete and in place when the signal was acted on

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def did_you_mean(name: str, known, cutoff: float = 0.6) -> str:
    """ " did you mean 'X'?" for the known name nearest a misspelt one (`onxx`, `int4_weight`), else "": the part of
    a one-line error that says what to type instead."""
    import difflib

    known = [str(each) for each in known]
    spelled = str(name).strip().lower().replace("_", "-")
    if spelled in known:
        close = [spelled]
    else:  # a name cut short (`int4` for `int4-weight`) before the nearest spelling (`int8`)
        close = [k for k in known if spelled and k.startswith(spelled)][:1] or difflib.get_close_matches(
            spelled, known, 1, cutoff
        )
    return f" did you mean '{close[0]}'?" if close else ""


def first_line(error: BaseException) -> str:
    """The first non-blank line of an error's message, or its type's name when the message is empty: what a one-line
    report quotes of an error raised by a library."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
