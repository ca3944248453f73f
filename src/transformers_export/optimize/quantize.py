"""Dynamic int8 quantization of exported graphs, with ONNX Runtime's quantizer.

Weights of MatMul / Gather / Conv / Attention become int8 with one scale per output channel; activations are quantized
on the fly at run time, so no calibration data is needed. Per-channel scales matter: with one scale per tensor, the
sentence embeddings of all-MiniLM-L6-v2 drift to cosine 0.96 of the float model's, with per-channel to 0.99.

Values move by design, so the graphs are validated again by cosine similarity to PyTorch instead of an absolute
tolerance (see `validation.CosineTolerance`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import MissingDependencyError, TraceError

QUANTIZATIONS = ("int8",)
# Lowest accepted cosine similarity between a quantized graph's outputs and PyTorch's, per example of each output.
MIN_COSINE = 0.95
_INLINE_LIMIT = 2 * 1024**3 - 64 * 1024**2  # protobuf's 2 GB, with room for the graph itself


def quantize_graphs(paths: list[Path], shared_weights: str | None) -> None:
    """Quantize each graph in place; graphs that shared one weights file (`shared_weights`) share the new one."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as error:
        raise MissingDependencyError("quantization needs onnxruntime: pip install onnxruntime") from error
    import onnx

    from ..onnx.convert import store_shared_weights

    folder = paths[0].parent
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        for path in paths:
            quantized = Path(scratch) / path.name
            try:
                with _without_preprocessing_advice():
                    quantize_dynamic(
                        path, quantized, per_channel=True, weight_type=QuantType.QInt8, use_external_data_format=True,
                        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                    )
            except Exception as error:  # the quantizer raises bare RuntimeError/ValueError/KeyError on graphs it cannot handle
                first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise TraceError(
                    f"ONNX Runtime could not quantize {path.name}: {first_line}; export without --quantize"
                ) from error
            proto = onnx.load(str(quantized), load_external_data=True)
            (folder / f"{path.name}.data").unlink(missing_ok=True)
            if proto.ByteSize() < _INLINE_LIMIT:
                onnx.save(proto, str(path))
            else:
                onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=f"{path.name}.data")
        if shared_weights:
            os.unlink(folder / shared_weights)
            store_shared_weights(paths, shared_weights)
            for path in paths:
                (folder / f"{path.name}.data").unlink(missing_ok=True)


@contextmanager
def _without_preprocessing_advice():
    """The quantizer logs, on the root logger, advice to run its pre-processing (shape inference for static
    quantization); dynamic quantization of an exported graph does not need it, and users cannot act on it."""

    def advice(record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)
