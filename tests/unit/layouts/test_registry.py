"""The layout registry: names from the manifest schema, one default per feature, one-line refusals, and the decode
each layout asks validation to run. Export configs are stand-ins: layouts read only these attributes."""

from types import SimpleNamespace

import pytest

from transformers_export.errors import InvalidArgumentError
from transformers_export.layouts import LAYOUTS, SINGLE_GRAPH, choose_layout, get_layout
from transformers_export.layouts.base import DECODER, ENCODER_DECODER, SEQ2SEQ_GRAPH
from transformers_export.output.manifest import LAYOUTS as LAYOUT_NAMES

MONOLITH, GENERATION, VISION_LANGUAGE, MERGED = (LAYOUTS[name] for name in LAYOUT_NAMES)


def _config(seq2seq=False, past=False):
    return SimpleNamespace(is_seq2seq_graph=seq2seq, use_past=past)


FEATURES = [
    # (export config, feature, default layout)
    (_config(), "default", MONOLITH),
    (_config(), "sequence-classification", MONOLITH),
    (_config(past=True), "causal-lm-with-past", MONOLITH),
    (_config(seq2seq=True), "seq2seq-lm", MONOLITH),
    (_config(seq2seq=True, past=True), "seq2seq-lm-with-past", GENERATION),
    (_config(seq2seq=True, past=True), "speech2seq-lm-with-past", GENERATION),
    (_config(past=True), "image-text-to-text-with-past", VISION_LANGUAGE),
]


def test_registry_names_are_the_manifest_schemas():
    assert tuple(LAYOUTS) == LAYOUT_NAMES
    assert all(layout.name == name for name, layout in LAYOUTS.items())
    assert SINGLE_GRAPH is MONOLITH and SINGLE_GRAPH.roles == ("model",)


@pytest.mark.parametrize("config, feature, default", FEATURES)
def test_exactly_one_layout_is_the_default(config, feature, default):
    assert [layout for layout in LAYOUTS.values() if layout.is_default(config, feature)] == [default]
    assert choose_layout(config, feature, "m") is default


@pytest.mark.parametrize("config, feature, default", FEATURES)
def test_the_default_layout_accepts_its_feature(config, feature, default):
    assert default.refusal(config, feature, "m") is None


@pytest.mark.parametrize(
    "config, feature, requested, message",
    [
        (_config(past=True), "causal-lm-with-past", GENERATION, "is for encoder-decoder models"),
        (_config(seq2seq=True), "seq2seq-lm", GENERATION, "needs a cache: use --feature seq2seq-lm-with-past"),
        (_config(), "default", VISION_LANGUAGE, "is for image-text-to-text models"),
        (_config(past=True), "image-text-to-text-with-past", MONOLITH, "only as the vision-language layout"),
        (_config(past=True), "image-text-to-text-with-past", GENERATION, "only as the vision-language layout"),
        (_config(), "image-text-to-text", VISION_LANGUAGE, "use --feature image-text-to-text-with-past"),
        (_config(seq2seq=True, past=True), "speech2seq-lm-with-past", MONOLITH, "exports the generation layout only"),
    ],
)
def test_a_refused_layout_is_one_line_naming_the_fix(config, feature, requested, message):
    with pytest.raises(InvalidArgumentError, match=message) as raised:
        choose_layout(config, feature, "m", requested.name)
    assert "\n" not in str(raised.value)


def test_the_seeds_single_graph_with_a_cache_is_kept_on_request():
    config = _config(seq2seq=True, past=True)
    assert choose_layout(config, "seq2seq-lm-with-past", "t5", MONOLITH.name) is MONOLITH


def test_an_unknown_layout_names_the_known_ones():
    with pytest.raises(
        InvalidArgumentError,
        match="unknown layout 'mono'; did you mean 'monolith'\\? choose one of " + ", ".join(LAYOUT_NAMES),
    ):
        get_layout("mono")


def _graphs(*configs):
    return [SimpleNamespace(config=config) for config in configs]


@pytest.mark.parametrize(
    "layout, graphs, decodes_monolith, expected",
    [
        (MONOLITH, _graphs(_config()), True, None),
        (MONOLITH, _graphs(_config(past=True)), True, (DECODER, 0)),
        (MONOLITH, _graphs(_config(seq2seq=True, past=True)), True, (SEQ2SEQ_GRAPH, 0)),
        (MONOLITH, _graphs(_config(seq2seq=True, past=True)), False, None),  # TorchScript / torch.export
        (GENERATION, _graphs(_config(), _config()), True, (ENCODER_DECODER, 0)),
        (VISION_LANGUAGE, _graphs(_config(), _config(), _config(past=True)), True, (DECODER, 2)),
    ],
)
def test_each_layout_declares_the_decode_validation_runs(layout, graphs, decodes_monolith, expected):
    decode = layout.decode(graphs, SimpleNamespace(decodes_seq2seq_monolith=decodes_monolith))
    assert (decode and (decode.kind, decode.graph)) == expected


def test_roles_match_the_graphs_the_runtime_asks_for():
    assert GENERATION.roles == ("encoder", "decoder")
    assert VISION_LANGUAGE.roles[-1] == "decoder" and "vision" in VISION_LANGUAGE.roles
