"""Every registered feature of every registered model type, as data: the export config builds from the type's default
config, picks its layout, and declares I/O in the contract's vocabulary. No model is built."""

import pytest
from transformers import CONFIG_MAPPING

from transformers_export.architectures import all_specs
from transformers_export.cache import names as cache
from transformers_export.dummy_inputs.specs import input_spec
from transformers_export.layouts import LAYOUTS, choose_layout
from transformers_export.output.manifest import LAYOUTS as LAYOUT_NAMES
from transformers_export.resolve.plan import build_onnx_config
from transformers_export.tasks import TASKS, WITH_PAST_SUFFIX, task_of

SPECS = {spec.model_type: spec for spec in all_specs() if not spec.generic}
FEATURES = [(model_type, feature) for model_type, spec in SPECS.items() for feature in spec.tasks]
# the symbolic axes README's I/O contract names; every declared input and output axis is one of them
AXES = {
    "batch", "sequence", "num_choices", "past_sequence", "past_sequence + sequence", "encoder_sequence",
    "decoder_sequence", "past_decoder_sequence", "past_decoder_sequence + decoder_sequence", "samples", "frames",
    "feature_frames", "height", "width", "num_channels", "text_batch", "image_batch",
}
MONOLITH, GENERATION, VISION_LANGUAGE, MERGED = (LAYOUTS[name] for name in LAYOUT_NAMES)


def _config(model_type):
    return CONFIG_MAPPING[model_type]()


def test_the_registry_declares_hundreds_of_features():
    assert len(SPECS) >= 100 and len(FEATURES) >= 600


@pytest.mark.parametrize("model_type, feature", FEATURES)
def test_registered_feature_declares_the_contract(model_type, feature):
    spec = SPECS[model_type]
    assert task_of(feature) in TASKS
    onnx_config = build_onnx_config(spec, feature, _config(model_type))
    layout = choose_layout(onnx_config, feature, spec.key)
    with_past = feature.endswith(WITH_PAST_SUFFIX)
    if task_of(feature) == "image-text-to-text":
        # its graphs (and their layer counts) come from the model: the layout declares them (e2e tests run them)
        assert layout is VISION_LANGUAGE and with_past
        return
    expected = GENERATION if with_past and onnx_config.is_seq2seq_graph else MONOLITH
    assert layout is expected
    inputs, outputs = onnx_config.inputs, onnx_config.outputs
    assert outputs, "no outputs"
    for name, axes in {**inputs, **outputs}.items():
        assert set(axes.values()) <= AXES, (name, axes)
    for name in inputs:
        assert cache.parse_name(name) is not None or input_spec(name, onnx_config._config) is not None, name
    pasts = [cache.parse_name(n) for n in inputs if cache.is_past(n)]
    presents = [cache.parse_name(n) for n in outputs if cache.is_present(n)]
    assert bool(pasts) == with_past == bool(presents)
    assert {(p.layer, p.kind, p.side) for p in pasts} == {(p.layer, p.kind, p.side) for p in presents}
