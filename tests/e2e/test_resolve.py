import pytest

from transformers_export.errors import UnsupportedFeatureError
from transformers_export.resolve.plan import ExportRequest
from transformers_export.resolve.plan import resolve as resolve_request
from transformers_export.tasks import canonical_feature


def resolve(model, feature="default"):
    return resolve_request(ExportRequest(model, model + "-export", feature=feature))


def test_bigbird_is_loaded_with_full_attention(tiny_checkpoint):
    # block-sparse attention is chosen per sequence length in Python; a trace would freeze one path
    resolved = resolve(str(tiny_checkpoint("big_bird")))
    assert resolved.model.attention_type == "original_full"


@pytest.mark.parametrize(
    "alias,feature",
    [
        ("feature-extraction", "default"),
        ("fill-mask", "masked-lm"),
        ("text-classification", "sequence-classification"),
        ("text-generation-with-past", "causal-lm-with-past"),
        ("question-answering", "question-answering"),
    ],
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


def test_tapex_checkpoint_loads_its_vocabulary_without_tapex_tokenizer(tiny_checkpoint, tmp_path, caplog):
    """TAPEX checkpoints are BART with a `TapexTokenizer`, which transformers 5 removed; the export must still work."""
    import json
    import shutil

    folder = tmp_path / "tapex"
    shutil.copytree(tiny_checkpoint("bart", "seq2seq-lm"), folder)
    vocab = {token: i for i, token in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>", *"abcdefgh", "Ġ"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    special = dict(bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TapexTokenizer", **special}))
    with caplog.at_level("WARNING", logger="transformers_export"):
        resolved = resolve(str(folder), "seq2seq-lm")
    assert "has no TapexTokenizer; loaded the vocabulary as" in caplog.text
    assert resolved.preprocessor("abc")["input_ids"] == [0, 5, 6, 7, 2]


def test_unknown_tokenizer_class_that_does_not_fit_is_a_clear_error(tiny_checkpoint, tmp_path):
    import json
    import shutil

    from transformers_export.errors import PreprocessorError

    folder = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint("bart", "seq2seq-lm"), folder)
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "NoSuchTokenizer"}))
    with pytest.raises(PreprocessorError, match="cannot load a tokenizer from"):
        resolve(str(folder), "seq2seq-lm")


def test_no_feature_exports_the_base_model_and_names_the_feature_that_keeps_the_head(tiny_checkpoint, caplog):
    folder = str(tiny_checkpoint("bert", "sequence-classification"))
    with caplog.at_level("WARNING", logger="transformers_export"):
        resolved = resolve(folder, None)
    assert resolved.feature == "default" and type(resolved.model).__name__ == "BertModel"
    assert f"{folder} is a BertForSequenceClassification; the default feature exports its base model" in caplog.text
    assert "pass --feature sequence-classification (or --feature auto) to keep it" in caplog.text


@pytest.mark.parametrize("feature,checkpoint_feature", [("default", "sequence-classification"), (None, "default")])
def test_no_warning_when_default_is_asked_for_or_there_is_no_head(feature, checkpoint_feature, tiny_checkpoint, caplog):
    with caplog.at_level("WARNING", logger="transformers_export"):
        resolve(str(tiny_checkpoint("bert", checkpoint_feature)), feature)
    assert "default feature" not in caplog.text


@pytest.mark.parametrize("model_type,feature", [("whisper", "speech2seq-lm"), ("wav2vec2", "ctc")])
def test_a_pipeline_task_name_means_the_export_this_model_supports(model_type, feature, tiny_checkpoint):
    resolved = resolve(str(tiny_checkpoint(model_type, feature)), "automatic-speech-recognition")
    assert resolved.feature == feature
