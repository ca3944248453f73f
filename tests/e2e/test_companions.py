"""The files beside the graphs stay what the checkpoint had where clients read them: tokenizer_config.json's special
token switches, generation_config.json as written, and a tokenizer that encodes as the checkpoint's does."""

import json
import shutil

from transformers_export import export_model


def _llama_with_tokenizer(tiny_checkpoint, folder):
    from tokenizers import Tokenizer, models
    from transformers import LlamaTokenizerFast

    shutil.copytree(tiny_checkpoint("llama", "causal-lm"), folder)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate("abcdefghij ▁")}}
    tokenizer = LlamaTokenizerFast(
        tokenizer_object=Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>")),
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", add_bos_token=True,
    )  # fmt: skip
    tokenizer.save_pretrained(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    # as a Llama 2 checkpoint has it (transformers 5 reads it, and keeps it in tokenizer.json, but does not write it)
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "add_bos_token": True, "add_eos_token": False}))
    (folder / "generation_config.json").write_text('{\n  "bos_token_id": 1,\n  "eos_token_id": 2,\n  "max_length": 31\n}')
    return tokenizer


def test_tokenizer_switches_and_generation_config_stay_as_the_checkpoint_had_them(tiny_checkpoint, tmp_path, caplog):
    from transformers import AutoTokenizer

    source = tmp_path / "llama"
    _llama_with_tokenizer(tiny_checkpoint, source)
    with caplog.at_level("WARNING", logger="transformers_export"):
        export_model(str(source), tmp_path / "out", feature="causal-lm-with-past")
    written = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert written["add_bos_token"] is True and written["add_eos_token"] is False
    out = tmp_path / "out" / "generation_config.json"
    assert out.read_text() == (source / "generation_config.json").read_text(), "copied as written"
    expected = AutoTokenizer.from_pretrained(source)("abc")["input_ids"]
    assert AutoTokenizer.from_pretrained(tmp_path / "out")("abc")["input_ids"] == expected and expected[0] == 1
    assert "encodes" not in caplog.text and "cannot be loaded back" not in caplog.text
