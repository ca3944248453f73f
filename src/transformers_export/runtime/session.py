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


def half_precision_cpu_options(options):
    """`options` set for a graph whose weights are fp16 or bf16, run on the CPU, whose kernels for MatMul and most
    other ops are float32 only: every run casts each weight to a float32 copy as it is used. Measured on a 4-layer
    8B Llama in fp16 (3.5 GB), resident memory after three runs:

    - the default, ONNX Runtime's highest level with its memory arena: 11.2 GiB; the arena keeps every copy;
    - the arena off: 5.3 GiB; the highest level folds each Cast of a weight into a float32 copy, kept for good;
    - the arena off, one level down (extended): 2.7 GiB; the weights stay as written and are cast as they are used.

    And the order: by default the Casts, which need nothing but a weight, may all run first, so most widened copies
    are alive at once (a 16-layer one, 8.5 GiB of fp16 weights: 17.7 GiB at peak); ordered by priority each runs
    just before its product (9.6 GiB, and twice as fast)."""
    import onnxruntime

    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.enable_cpu_mem_arena = False
    options.execution_order = onnxruntime.ExecutionOrder.PRIORITY_BASED
    return options


def holds_half_precision_weights(path: Path) -> bool:
    """Whether the graph at `path` holds fp16 or bf16 weights, read from its own file (its external data is not
    read). A graph file above 64 MB holds its weights inline, which is only done below 2 GB: it is not read twice."""
    import onnx

    if path.stat().st_size > 64 << 20:
        return False
    narrow = {onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(initializer.data_type in narrow for initializer in graph.initializer)


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
    providers = providers_list(provider)
    options = session_options_with(session_options, threads)
    if session_options is None and providers == [DEFAULT_PROVIDER] and holds_half_precision_weights(path):
        options = half_precision_cpu_options(options or onnxruntime.SessionOptions())
    return onnxruntime.InferenceSession(str(path), options, providers=providers)


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
