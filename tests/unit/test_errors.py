"""The exception hierarchy's exit codes and the one helper that quotes a library's error in one line."""

import pytest

from transformers_export import errors
from transformers_export.errors import first_line


@pytest.mark.parametrize(
    "error, line",
    [
        (ValueError("shape mismatch\n  at layer 3"), "shape mismatch"),
        (ValueError("\n\n   late first line  \nrest"), "late first line"),
        (RuntimeError(""), "RuntimeError"),  # an empty message (ONNX Runtime, safetensors) never raises IndexError
        (KeyError(), "KeyError"),
        (OSError("   "), "OSError"),
    ],
)
def test_first_line_of_any_error(error, line):
    assert first_line(error) == line


# README's exit codes: 2 what the user gave, 3 validation, 1 tracing, writing or the unexpected
DOCUMENTED = {
    "InvalidArgumentError": 2,
    "UnsupportedModelError": 2,
    "UnsupportedFeatureError": 2,
    "CheckpointError": 2,
    "PreprocessorError": 2,
    "ValidationError": 3,
    "TraceError": 1,
    "OutputError": 1,
    "MissingDependencyError": 1,
}


@pytest.mark.parametrize("name, code", sorted(DOCUMENTED.items()))
def test_each_error_exits_with_its_documented_code(name, code):
    kind = getattr(errors, name)
    assert issubclass(kind, errors.ExportError) and kind("x").exit_code == code


def test_every_export_error_is_documented():
    kinds = {
        name
        for name in dir(errors)
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), errors.ExportError)
    }
    assert kinds - {"ExportError"} == set(DOCUMENTED)


@pytest.mark.parametrize(
    "typed, known, said",
    [("onxx", ["onnx", "torchscript"], " did you mean 'onnx'?"),
     ("int4", ["int8", "int8-weight", "int4-weight"], " did you mean 'int4-weight'?"),  # cut short beats nearest
     ("Causal_LM", ["causal-lm", "masked-lm"], " did you mean 'causal-lm'?"),
     ("tflite", ["onnx", "torchscript"], ""), ("", ["onnx"], "")],
)  # fmt: skip
def test_did_you_mean_names_the_nearest_known_name_or_nothing(typed, known, said):
    assert errors.did_you_mean(typed, known) == said
