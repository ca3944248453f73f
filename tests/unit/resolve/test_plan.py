"""The request's own checks, before any config or weights load: each bad option is one line naming the fix."""

import pytest

from transformers_export.errors import InvalidArgumentError
from transformers_export.resolve.plan import ExportRequest, check_request


def _request(tmp_path, **options):
    return ExportRequest(model=str(tmp_path / "model"), output=tmp_path / "out", **options)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"atol": 0.0}, "--atol must be a positive finite number"),
        ({"atol": float("nan")}, "--atol must be a positive finite number"),
        ({"layout": "mono"}, "unknown layout 'mono'"),
        ({"quantize": "int3"}, "unknown quantization 'int3'"),
        ({"min_cosine": 0.9}, "--min-cosine applies to quantized exports; add --quantize"),
        ({"quantize": "int8", "min_cosine": 2.0}, "--min-cosine must be a number between -1 and 1"),
        ({"dtype": "fp8"}, "unknown dtype 'fp8'"),
        ({"dtype": "bf16"}, "--dtype bf16 applies to --format torchscript or exported-program"),
        ({"quantize": "int8", "dtype": "fp16"}, "--quantize starts from an fp32 graph; drop --dtype"),
        ({"framework": "jax"}, "--framework must be 'pt' or 'tf'"),
        ({"format": "tflite"}, "unknown format 'tflite'"),
        ({"format": "torchscript", "quantize": "int8-weight"}, "--quantize int8-weight applies to --format onnx"),
        ({"batch_size": 0}, "--batch-size must be at least 1"),
        ({"sequence_length": -3}, "--sequence-length must be at least 1"),
        ({"format": "torchscript", "opset": 17}, "--opset applies to --format onnx"),
        ({"format": "onnx", "tracer": "torch_neuronx:trace"}, "--tracer applies to --format torchscript"),
    ],
)
def test_a_bad_option_is_refused_in_one_line(tmp_path, options, message):
    with pytest.raises(InvalidArgumentError, match=message) as raised:
        check_request(_request(tmp_path, **options))
    assert "\n" not in str(raised.value)


def test_good_options_become_trace_options(tmp_path):
    options = check_request(_request(tmp_path, opset=17, batch_size=3, sequence_length=5, quantize="int8"))
    assert options.opset == 17 and dict(options.trace_sizes) == {"batch": 3, "sequence": 5} and options.quantize == "int8"
