"""Stage 1: from a model path or hub id and a feature to a loaded model, its preprocessor and its export config.

Cheap checks run before the weights are loaded: the config is read first, so an unknown model type or an unsupported
feature fails in a fraction of a second.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .architectures import check_feature, get_spec
from .errors import CheckpointError, InvalidArgumentError, PreprocessorError, UnsupportedModelError
from .tasks import auto_class, canonical_feature, get_task, infer_feature
from .tf_checkpoint import TF_WEIGHTS, convert_tf_checkpoint, has_only_tf_weights

logger = logging.getLogger(__name__)

PREPROCESSOR_KINDS = ("auto", "tokenizer", "feature_extractor", "image_processor", "processor")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")
_PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
_PREPROCESSOR_CLASSES = {
    "tokenizer": "AutoTokenizer",
    "feature_extractor": "AutoFeatureExtractor",
    "image_processor": "AutoImageProcessor",
    "processor": "AutoProcessor",
}


@dataclass
class ResolvedModel:
    source: str
    model: Any
    preprocessor: Any
    feature: str
    onnx_config: Any
    model_type: str


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _local_folder(model: str) -> Path | None:
    path = Path(model)
    if path.is_file():
        raise CheckpointError(f"'{model}' is a file; --model takes a checkpoint folder or a hub model id")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"no config.json in '{model}'; point --model at a folder written by save_pretrained")
        return path
    if path.is_absolute() or model.startswith(("./", "../", "~")) or model.count("/") > 1:
        raise CheckpointError(f"no such folder: '{model}'")
    return None


def load_config(model: str, cache_dir: str | None = None):
    from transformers import AutoConfig

    folder = _local_folder(model)
    if folder is not None:
        try:
            raw = json.loads((folder / "config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CheckpointError(f"config.json in '{model}' is not valid JSON: {_first_line(error)}") from error
        if not isinstance(raw, dict) or "model_type" not in raw:
            raise CheckpointError(f"config.json in '{model}' has no 'model_type'; it was not written by transformers")
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        if raw["model_type"] not in CONFIG_MAPPING_NAMES:
            get_spec(raw["model_type"])  # raises with the supported list when we do not know it either
            raise UnsupportedModelError(
                f"model type '{raw['model_type']}' is unknown to the installed transformers; upgrade transformers"
            )
    try:
        return AutoConfig.from_pretrained(model, cache_dir=cache_dir)
    except OSError as error:
        if folder is not None:
            raise CheckpointError(f"cannot read the config in '{model}': {_first_line(error)}") from error
        raise CheckpointError(
            f"'{model}' is not a local folder and could not be fetched from the hub: {_first_line(error)}"
        ) from error
    except (ValueError, KeyError) as error:
        raise CheckpointError(f"cannot read the config of '{model}': {_first_line(error)}") from error


def load_model(model: str, feature: str, cache_dir: str | None = None, framework: str | None = None, config=None):
    if framework not in (None, "pt", "tf"):
        raise InvalidArgumentError(f"--framework must be 'pt' or 'tf', got '{framework}'")
    folder = _local_folder(model)
    task = get_task(feature)
    model_class = auto_class(task)
    if framework == "tf" or (folder is not None and has_only_tf_weights(folder)):
        if folder is None:
            raise CheckpointError(f"TensorFlow checkpoints are read from local folders; download '{model}' first")
        with tempfile.TemporaryDirectory(prefix="tf-checkpoint-") as converted:
            logger.info("reading TensorFlow weights from %s into PyTorch", folder / TF_WEIGHTS)
            convert_tf_checkpoint(folder, converted)
            return _from_pretrained(model_class, converted, config, cache_dir, feature)
    return _from_pretrained(model_class, model, config, cache_dir, feature)


def _from_pretrained(model_class, model, config, cache_dir, feature):
    import torch

    try:
        loaded, info = model_class.from_pretrained(
            model, config=config, cache_dir=cache_dir, dtype=torch.float32, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, EnvironmentError) as error:
        raise CheckpointError(f"cannot load the weights of '{model}': {_first_line(error)}") from error
    except Exception as error:  # safetensors and torch.load raise their own types on corrupt files
        raise CheckpointError(f"cannot load the weights of '{model}': {_first_line(error)}") from error
    missing = info.get("missing_keys") or []
    if missing:
        logger.warning(
            "%d weight(s) of %s were not in the checkpoint and are randomly initialised (e.g. %s); "
            "the exported '%s' head is untrained",
            len(missing),
            type(loaded).__name__,
            sorted(missing)[0],
            feature,
        )
    return loaded.eval()


def _tokenizer_class_gone(model: str, cache_dir: str | None) -> str | None:
    """The tokenizer class a checkpoint names when this transformers no longer has it (TAPEX's TapexTokenizer)."""
    import transformers
    from transformers.utils import cached_file

    try:
        path = cached_file(model, "tokenizer_config.json", cache_dir=cache_dir, _raise_exceptions_for_missing_entries=False)
        name = json.loads(Path(path).read_text()).get("tokenizer_class") if path else None
    except Exception:  # unreachable hub, unreadable file: nothing to fall back on
        return None
    if not name or hasattr(transformers, name) or hasattr(transformers, name.removesuffix("Fast")):
        return None
    return name


def load_preprocessor(model: str, kind: str = "auto", cache_dir: str | None = None, model_type: str | None = None):
    """The tokenizer / image processor / processor of a checkpoint; None when `kind` is auto and it has none.

    A tokenizer whose class transformers removed is loaded as the tokenizer of `model_type` (same vocabulary files),
    with a warning: the removed class's extra preprocessing (TAPEX's table flattening) is not available.
    """
    import transformers

    if kind not in PREPROCESSOR_KINDS:
        raise InvalidArgumentError(f"unknown preprocessor type '{kind}'; choose one of {', '.join(PREPROCESSOR_KINDS)}")
    folder = _local_folder(model)
    if folder is not None:
        # transformers 5 builds an empty tokenizer (special tokens only) for a folder without tokenizer files, so
        # what is on disk decides, not whether from_pretrained succeeds.
        names = {path.name for path in folder.iterdir()}
        has_tokenizer, has_processor = bool(names & set(_TOKENIZER_FILES)), bool(names & set(_PROCESSOR_FILES))
        if kind == "auto":
            if not (has_tokenizer or has_processor):
                return None
            kind = "processor" if has_processor else "tokenizer"
        elif not (has_tokenizer if kind == "tokenizer" else has_processor):
            expected = _TOKENIZER_FILES if kind == "tokenizer" else _PROCESSOR_FILES
            raise PreprocessorError(
                f"cannot load a {kind.replace('_', ' ')} from '{model}': none of {', '.join(expected)} is there"
            )
    elif kind == "auto":
        try:
            return transformers.AutoProcessor.from_pretrained(model, cache_dir=cache_dir)
        except Exception:  # a hub model without any preprocessor: dummy inputs come from the config instead
            return None
    # Looked up by name: touching AutoImageProcessor & co. imports the image stack (seconds) even for text models.
    loader = getattr(transformers, _PREPROCESSOR_CLASSES[kind])
    try:
        return loader.from_pretrained(model, cache_dir=cache_dir)
    except Exception as error:  # each Auto class has its own failure types; all mean "not loadable here"
        gone = _tokenizer_class_gone(model, cache_dir) if kind == "tokenizer" and model_type else None
        if gone:
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(model, cache_dir=cache_dir, tokenizer_type=model_type)
            except Exception:  # the vocabulary does not fit the model type's tokenizer either: report the first error
                tokenizer = None
            # transformers 5 builds a tokenizer of special tokens only when the vocabulary files are missing
            if tokenizer is not None and len(tokenizer) > len(tokenizer.all_special_tokens):
                logger.warning(
                    "transformers %s has no %s; loaded the vocabulary as %s (its own preprocessing is not included)",
                    transformers.__version__, gone, type(tokenizer).__name__,
                )
                return tokenizer
        raise PreprocessorError(f"cannot load a {kind.replace('_', ' ')} from '{model}': {_first_line(error)}") from error


def resolve(
    model: str,
    feature: str = "default",
    preprocessor: str = "auto",
    cache_dir: str | None = None,
    framework: str | None = None,
) -> ResolvedModel:
    config = load_config(model, cache_dir)
    spec = get_spec(config.model_type)
    feature = infer_feature(config) if feature == "auto" else canonical_feature(feature)
    get_task(feature)  # unknown feature names fail here with the list of known ones
    check_feature(spec, feature)
    from .features import FeaturesManager

    constructor = FeaturesManager.get_supported_features_for_model_type(config.model_type)[feature]
    # Some switches are read once, when the modules are built (BigBird's attention type), so they go into the config
    # before loading; `values_override` repeats them for models loaded by the caller.
    for key, value in spec.config_overrides.items():
        setattr(config, key, value)
    loaded_preprocessor = load_preprocessor(model, preprocessor, cache_dir, config.model_type)
    loaded_model = load_model(model, feature, cache_dir=cache_dir, framework=framework, config=config)
    return ResolvedModel(
        source=model,
        model=loaded_model,
        preprocessor=loaded_preprocessor,
        feature=feature,
        onnx_config=constructor(loaded_model.config),
        model_type=config.model_type,
    )
