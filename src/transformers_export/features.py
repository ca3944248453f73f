"""`FeaturesManager`: the seed's view of the registry (model type -> feature -> config constructor)."""

from __future__ import annotations

from functools import partial
from typing import Callable

from .architectures import all_specs, check_feature, get_spec, normalize_model_type
from .config import OnnxConfig, onnx_config_class
from .errors import UnsupportedFeatureError
from .resolve.loading import load_model
from .tasks import TASKS, WITH_PAST_SUFFIX, auto_class, canonical_feature, get_task, task_of


def _constructor(config_class, feature: str) -> Callable:
    if feature.endswith(WITH_PAST_SUFFIX):
        return partial(config_class.with_past, task=task_of(feature))
    return partial(config_class.from_model_config, task=feature)


def supported_features_mapping(*features: str, onnx_config_cls=None) -> dict[str, Callable]:
    """Feature -> constructor for a config class (the seed helper; accepts the class itself, not a dotted path)."""
    if onnx_config_cls is None:
        raise ValueError("A OnnxConfig class must be provided")
    return {feature: _constructor(onnx_config_cls, feature) for feature in features}


class _ClassProperty:
    def __init__(self, getter):
        self.getter = getter

    def __get__(self, instance, owner):
        return self.getter(owner)


def _spec_features(spec) -> dict[str, Callable]:
    # per feature, its config class: the causal-lm head of an encoder-decoder type has a decoder config of its own
    return {feature: _constructor(onnx_config_class(spec, task_of(feature)), feature) for feature in spec.features}


class FeaturesManager:
    @_ClassProperty
    def _SUPPORTED_MODEL_TYPE(cls) -> dict[str, dict[str, Callable]]:
        return {spec.key: _spec_features(spec) for spec in all_specs()}

    @_ClassProperty
    def AVAILABLE_FEATURES(cls) -> list[str]:
        return sorted({feature for spec in all_specs() for feature in spec.features})

    @_ClassProperty
    def _TASKS_TO_AUTOMODELS(cls) -> dict[str, type]:
        return {name: auto_class(task) for name, task in TASKS.items()}

    @staticmethod
    def get_supported_features_for_model_type(model_type: str, model_name: str | None = None) -> dict[str, Callable]:
        return _spec_features(get_spec(model_type))

    @staticmethod
    def feature_to_task(feature: str) -> str:
        return task_of(canonical_feature(feature))

    @staticmethod
    def get_model_class_for_feature(feature: str, framework: str = "pt") -> type:
        if framework not in ("pt", "tf"):
            raise ValueError(
                f"Only two frameworks are supported for ONNX export: pt or tf, but {framework} was provided."
            )
        return auto_class(get_task(feature))

    @staticmethod
    def get_model_from_feature(feature: str, model: str, framework: str | None = None, cache_dir: str | None = None):
        return load_model(model, canonical_feature(feature), cache_dir=cache_dir, framework=framework)

    @staticmethod
    def check_supported_model_or_raise(model, feature: str = "default") -> tuple[str, Callable]:
        model_type = model.config.model_type
        feature = canonical_feature(feature)
        spec = get_spec(model_type)
        check_feature(spec, feature)
        return model_type, FeaturesManager.get_supported_features_for_model_type(model_type)[feature]

    @staticmethod
    def get_config(model_type: str, feature: str) -> Callable[..., OnnxConfig]:
        features = FeaturesManager.get_supported_features_for_model_type(model_type)
        feature = canonical_feature(feature)
        if feature not in features:
            raise UnsupportedFeatureError(
                f"{normalize_model_type(model_type)} doesn't support feature '{feature}'; "
                f"supported features: {', '.join(features)}"
            )
        return features[feature]
