"""The files an export carries beside its graphs: config.json, generation_config.json and the preprocessor's files,
as close to the source checkpoint's as transformers 5 can load them, since other clients (Transformers.js,
onnxruntime-genai) read them too."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

# tokenizer_config.json switches transformers 5 keeps in tokenizer.json's post-processor, and so drops on saving, but
# that clients reading tokenizer_config.json (Transformers.js' Llama tokenizer) go by: without them, no BOS
SPECIAL_TOKEN_SWITCHES = ("add_bos_token", "add_eos_token")
SAMPLE = "Exported models keep their tokenizer: 123 ÀÉÎ!"


def write_companions(model, preprocessor, source: Path | None, folder: Path) -> None:
    """Write config.json (without `auto_map`: the remote code it names is not copied), the generation config of a
    model that generates (the checkpoint's own file when it has one), and the preprocessor's files. `source`: the
    checkpoint's folder, when it is local."""
    model.config.save_pretrained(folder)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    if config.pop("auto_map", None) is not None:
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if model.can_generate() and getattr(model, "generation_config", None) is not None:
        if source is not None and (source / "generation_config.json").is_file():
            shutil.copyfile(source / "generation_config.json", folder / "generation_config.json")
        else:
            model.generation_config.save_pretrained(folder)
    if preprocessor is not None:
        preprocessor.save_pretrained(str(folder))
        if source is not None:
            _keep_special_token_switches(source, folder)
        _check_tokenizer(preprocessor, folder)


def _keep_special_token_switches(source: Path, folder: Path) -> None:
    written, original = folder / "tokenizer_config.json", source / "tokenizer_config.json"
    if not (written.is_file() and original.is_file()):
        return
    try:
        kept = {key: value for key, value in json.loads(original.read_text()).items() if key in SPECIAL_TOKEN_SWITCHES}
    except (ValueError, AttributeError):  # the loader read it; a file it could not parse has nothing to keep
        return
    config = json.loads(written.read_text())
    missing = {key: value for key, value in kept.items() if key not in config}
    if missing:
        written.write_text(json.dumps({**config, **missing}, indent=2, ensure_ascii=False) + "\n")


def _check_tokenizer(preprocessor, folder: Path) -> None:
    """Warn when the exported tokenizer encodes a sample differently from the checkpoint's (special tokens added or
    lost on the way): the folder's clients would see other ids than the model was validated with."""
    tokenizer = getattr(preprocessor, "tokenizer", preprocessor)
    if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
        return
    from transformers import AutoTokenizer

    try:
        exported = AutoTokenizer.from_pretrained(folder)
        expected, got = tokenizer(SAMPLE)["input_ids"], exported(SAMPLE)["input_ids"]
    except Exception as error:  # noqa: BLE001 - a tokenizer transformers cannot reload is the finding itself
        logger.warning(
            "the exported tokenizer cannot be loaded back (%s); clients of the folder may not read it", error
        )
        return
    if list(expected) != list(got):
        logger.warning(
            "the exported tokenizer encodes %r as %s, the checkpoint's as %s; clients of the folder will see other ids",
            SAMPLE,
            list(got)[:8],
            list(expected)[:8],
        )
