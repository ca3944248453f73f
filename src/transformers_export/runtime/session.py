"""Opening an exported graph in ONNX Runtime with the caller's provider, session options and thread count."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

DEFAULT_PROVIDER = "CPUExecutionProvider"


def session_options_with(session_options=None, threads: int | None = None):
    """`session_options`, or new ones with `threads` intra-op threads."""
    import onnxruntime

    if threads is None:
        return session_options
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if session_options is not None:
        # SessionOptions cannot be copied, and changing the caller's object would surprise them
        raise ValueError("pass threads or session_options, not both (set intra_op_num_threads in your session_options)")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return options


def providers_list(provider: str | Sequence | None) -> list:
    """ONNX Runtime's provider list from one provider name, or a list of names / (name, options) pairs."""
    import onnxruntime

    if provider is None:
        return [DEFAULT_PROVIDER]
    providers = [provider] if isinstance(provider, str) else list(provider)
    available = onnxruntime.get_available_providers()
    for entry in providers:
        name = entry[0] if isinstance(entry, (tuple, list)) else entry
        if name not in available:
            raise ValueError(
                f"provider {name!r} is not available in this onnxruntime build (available: {', '.join(available)})"
            )
    return providers


def open_session(path, provider=None, session_options=None, threads: int | None = None):
    import onnxruntime

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"'{path}' is a folder; pass the graph file, or open the folder with an OnnxModelFor* class")
    if not path.is_file():
        raise ValueError(f"'{path}' does not exist")
    return onnxruntime.InferenceSession(
        str(path), session_options_with(session_options, threads), providers=providers_list(provider)
    )


def run_session(session, output_names: list[str], feed) -> dict:
    """`session.run` with ONNX Runtime's own refusals (a wrong rank, a fixed size, an index past the model's
    positions) raised as `ValueError`, as every other bad input is."""
    try:
        values = session.run(output_names, dict(feed))
    except Exception as error:
        if type(error).__module__.startswith("onnxruntime"):
            from ..errors import first_line

            raise ValueError(f"ONNX Runtime refused the inputs: {first_line(error)}") from error
        raise
    return dict(zip(output_names, values))
