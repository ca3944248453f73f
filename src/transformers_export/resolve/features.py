"""Which feature a request means: the seed's default (with a warning when the checkpoint names a head), the one
`--feature auto` infers from `config.architectures`, or a named one with pipeline task names resolved per model."""

from __future__ import annotations

import logging

from ..architectures import ArchitectureSpec, get_spec
from ..cache import objects as cache_objects
from ..errors import UnsupportedFeatureError
from ..tasks import (
    GENERATING_TASKS,
    TASKS,
    WITH_PAST_SUFFIX,
    canonical_feature,
    infer_feature,
    task_of,
    transformers_model_class_name,
)

logger = logging.getLogger(__name__)


def requested_feature(requested: str | None, config, spec: ArchitectureSpec, source) -> str:
    """The feature of a request: None is the seed's "default"; "auto" is inferred; aliases resolve for this model."""
    if requested is None:
        _warn_of_a_dropped_head(config, spec, source)
        return "default"
    if requested == "auto":
        return auto_feature(config, spec)
    return canonical_feature(requested, spec.features)


def auto_feature(config, spec: ArchitectureSpec) -> str:
    """The feature `--feature auto` picks: the task of `config.architectures`, with the cache when the task generates
    (a Llama gets `causal-lm-with-past`, what generation needs)."""
    feature = infer_feature(config)
    # an image-text-to-text class that is also in the causal-LM mapping (GOT-OCR 2): its vision-language export
    vision_language = "image-text-to-text" + WITH_PAST_SUFFIX
    image_text_class = transformers_model_class_name(TASKS["image-text-to-text"], config.model_type)
    if vision_language in spec.features and image_text_class in (getattr(config, "architectures", None) or []):
        return vision_language
    with_past = feature + WITH_PAST_SUFFIX
    generates = task_of(feature) in GENERATING_TASKS and with_past in spec.tasks
    return with_past if generates and cache_objects.unexportable_cache(config) is None else feature


def _warn_of_a_dropped_head(config, spec: ArchitectureSpec, source) -> None:
    """The seed's default feature is the base model, whatever head the checkpoint has (its examples rely on it); a
    user who exports a fine-tuned classifier without --feature is told which feature keeps the head."""
    try:
        kept = auto_feature(config, spec)
    except UnsupportedFeatureError:  # no architectures recorded, or none transformers maps to a task
        return
    if task_of(kept) != "default" and kept in spec.features:
        architecture = next(iter(config.architectures))
        logger.warning(
            "%s is a %s; the default feature exports its base model without the head: pass --feature %s "
            "(or --feature auto) to keep it",
            source,
            architecture,
            kept,
        )


def default_feature(model, cache_dir=None) -> str:
    """`auto_feature` of a checkpoint folder or hub id."""
    from .loading import load_config

    config = load_config(model, cache_dir)
    return auto_feature(config, get_spec(config.model_type))
