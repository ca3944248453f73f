"""The format registry: every format registered once, options refused by the formats that do not take them."""

import pytest

from transformers_export.errors import InvalidArgumentError
from transformers_export.formats import TraceOptions, backend_names, get_backend


def test_the_four_formats_are_registered():
    files = {name: get_backend(name).file_name("model") for name in backend_names()}
    assert files == {
        "onnx": "model.onnx", "torchscript": "model.pt", "exported-program": "model.pt2", "aot-inductor": "model.pt2",
    }


def test_an_unknown_format_names_the_known_ones():
    with pytest.raises(InvalidArgumentError, match="unknown format 'tflite'; choose one of .*exported-program"):
        get_backend("tflite")


@pytest.mark.parametrize(
    "format, options, flag",
    [
        ("torchscript", TraceOptions(opset=17), "--opset"),
        ("exported-program", TraceOptions(engine="dynamo"), "--engine"),
        ("onnx", TraceOptions(tracer="torch_neuronx:trace"), "--tracer"),
        ("onnx", TraceOptions(untie_weights=True), "--untie-weights"),
    ],
)
def test_an_option_another_format_takes_is_refused_naming_it(format, options, flag):
    with pytest.raises(InvalidArgumentError, match=f"{flag} applies to --format .* only, not to --format {format}"):
        get_backend(format).check_options(options)


def test_each_format_declares_the_presets_it_applies():
    assert set(get_backend("onnx").quantizations) >= {"int8", "int8-dynamic", "int8-weight", "int4-weight"}
    assert get_backend("aot-inductor").quantizations == ("int8",)
    assert get_backend("torchscript").quantizations == ()
