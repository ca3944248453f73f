"""The checkpoint's preprocessor (tokenizer, feature extractor, image processor or processor), for dummy inputs and to
be copied beside the export. What is on disk decides which: transformers 5 builds an empty tokenizer for a folder
without tokenizer files, and a processor class needs every part it names."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import InvalidArgumentError, PreprocessorError, first_line
from .hub import hub_options
from .loading import local_folder

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


def _tokenizer_class_gone(model: str, cache_dir: str | None) -> str | None:
    """The tokenizer class a checkpoint names when this transformers no longer has it (TAPEX's TapexTokenizer)."""
    import transformers
    from transformers.utils import cached_file

    try:
        path = cached_file(
            model, "tokenizer_config.json", **hub_options(model, cache_dir), _raise_exceptions_for_missing_entries=False
        )
        name = json.loads(Path(path).read_text()).get("tokenizer_class") if path else None
    except Exception:  # unreachable hub, unreadable file: nothing to fall back on
        return None
    if not name or hasattr(transformers, name) or hasattr(transformers, name.removesuffix("Fast")):
        return None
    return name


def _part_in(path: Path) -> str:
    """Which part a preprocessor_config.json describes: an image processor or a feature extractor."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PreprocessorError(f"{path} is not valid JSON: {first_line(error)}") from error
    return "image_processor" if isinstance(data, dict) and "image_processor_type" in data else "feature_extractor"


def load_preprocessor(model: str, kind: str = "auto", cache_dir: str | None = None, model_type: str | None = None):
    """The tokenizer / image processor / processor of a checkpoint; None when `kind` is auto and it has none.

    A tokenizer whose class transformers removed is loaded as the tokenizer of `model_type` (same vocabulary files),
    with a warning: the removed class's extra preprocessing (TAPEX's table flattening) is not available.
    """
    import transformers

    if kind not in PREPROCESSOR_KINDS:
        raise InvalidArgumentError(f"unknown preprocessor type '{kind}'; choose one of {', '.join(PREPROCESSOR_KINDS)}")
    folder = local_folder(model)
    if folder is not None:
        # transformers 5 builds an empty tokenizer (special tokens only) for a folder without tokenizer files, so
        # what is on disk decides, not whether from_pretrained succeeds.
        names = {path.name for path in folder.iterdir()}
        has_tokenizer, has_processor = bool(names & set(_TOKENIZER_FILES)), bool(names & set(_PROCESSOR_FILES))
        if kind == "auto":
            if not (has_tokenizer or has_processor):
                return None
            kind = "processor" if has_processor else "tokenizer"
            if has_processor and not has_tokenizer and "processor_config.json" not in names:
                # preprocessor_config.json alone: the processor class would also need the tokenizer it names
                # (wav2vec2 CTC without a vocabulary); its feature extractor or image processor is what there is
                kind = _part_in(folder / "preprocessor_config.json")
        elif not (has_tokenizer if kind == "tokenizer" else has_processor):
            expected = _TOKENIZER_FILES if kind == "tokenizer" else _PROCESSOR_FILES
            raise PreprocessorError(
                f"cannot load a {kind.replace('_', ' ')} from '{model}': none of {', '.join(expected)} is there"
            )
    elif kind == "auto":
        try:
            return transformers.AutoProcessor.from_pretrained(model, **hub_options(model, cache_dir))
        except Exception:  # a hub model without any preprocessor: dummy inputs come from the config instead
            return None
    # Looked up by name: touching AutoImageProcessor & co. imports the image stack (seconds) even for text models.
    loader = getattr(transformers, _PREPROCESSOR_CLASSES[kind])
    try:
        return loader.from_pretrained(model, **hub_options(model, cache_dir))
    except Exception as error:  # each Auto class has its own failure types; all mean "not loadable here"
        gone = _tokenizer_class_gone(model, cache_dir) if kind == "tokenizer" and model_type else None
        if gone:
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    model, **hub_options(model, cache_dir), tokenizer_type=model_type
                )
            except Exception:  # the vocabulary does not fit the model type's tokenizer either: report the first error
                tokenizer = None
            # transformers 5 builds a tokenizer of special tokens only when the vocabulary files are missing
            if tokenizer is not None and len(tokenizer) > len(tokenizer.all_special_tokens):
                logger.warning(
                    "transformers %s has no %s; loaded the vocabulary as %s (its own preprocessing is not included)",
                    transformers.__version__,
                    gone,
                    type(tokenizer).__name__,
                )
                return tokenizer
        raise PreprocessorError(
            f"cannot load a {kind.replace('_', ' ')} from '{model}': {first_line(error)}"
        ) from error
