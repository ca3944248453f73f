"""The export command's parser (torch-free): flags, defaults, and one-line argument errors with exit code 2."""

import pytest

from transformers_export.cli import build_parser, main
from transformers_export.errors import InvalidArgumentError
from transformers_export.output.manifest import LAYOUTS


def test_defaults_are_the_seeds():
    args = build_parser().parse_args(["-m", "bert-base-cased", "out"])
    # no feature: the seed's "default", resolved with a warning when the checkpoint has a head
    assert (args.feature, args.format, args.dtype, args.layout, args.quantize) == (None, "onnx", "fp32", None, None)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_registered_layout_is_a_choice(layout):
    assert build_parser().parse_args(["-m", "m", "--layout", layout, "out"]).layout == layout


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "m", "--format", "tflite", "out"],
        ["-m", "m", "--quantize", "int3", "out"],
        ["-m", "m", "--opset", "seventeen", "out"],
        ["-m", "m"],
    ],
)
def test_bad_arguments_are_one_line_errors(argv):
    with pytest.raises(InvalidArgumentError) as raised:
        build_parser().parse_args(argv)
    assert "\n" not in str(raised.value) and "--help" in str(raised.value)


def test_no_arguments_exit_2_with_one_line(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: missing --model and the output folder (see transformers-export --help)"]


@pytest.mark.parametrize(
    "flag, typed, meant",
    [("--format", "onxx", "onnx"), ("--format", "exported_program", "exported-program"),
     ("--quantize", "int4", "int4-weight"), ("--quantize", "int8_dynamic", "int8-dynamic"),
     ("--dtype", "fp61", "fp16"), ("--layout", "monolit", "monolith")],
)  # fmt: skip
def test_a_misspelt_choice_names_the_one_meant(flag, typed, meant):
    with pytest.raises(InvalidArgumentError, match=f"invalid choice: '{typed}'; did you mean '{meant}'\\? choose from"):
        build_parser().parse_args(["-m", "m", flag, typed, "out"])


def test_a_choice_far_from_all_gets_the_list_only():
    with pytest.raises(InvalidArgumentError) as raised:
        build_parser().parse_args(["-m", "m", "--format", "tflite", "out"])
    assert "did you mean" not in str(raised.value) and "'onnx'" in str(raised.value)
