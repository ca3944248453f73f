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
