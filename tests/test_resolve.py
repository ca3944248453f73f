import pytest

from transformers_export.errors import UnsupportedFeatureError
from transformers_export.resolve import resolve
from transformers_export.tasks import canonical_feature


def test_bigbird_is_loaded_with_full_attention(tiny_checkpoint):
    # block-sparse attention is chosen per sequence length in Python; a trace would freeze one path
    resolved = resolve(str(tiny_checkpoint("big_bird")))
    assert resolved.model.attention_type == "original_full"


@pytest.mark.parametrize(
    "alias,feature",
    [("feature-extraction", "default"), ("fill-mask", "masked-lm"), ("text-classification", "sequence-classification"),
     ("text-generation-with-past", "causal-lm-with-past"), ("question-answering", "question-answering")],
)
def test_modern_task_names_are_aliases(alias, feature):
    assert canonical_feature(alias) == feature


def test_auto_feature_needs_architectures(tiny_checkpoint, tmp_path):
    import json
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint("bert"), folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("architectures", None)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedFeatureError, match="no 'architectures' entry; pass --feature"):
        resolve(str(folder), "auto")
