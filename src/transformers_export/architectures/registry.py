"""The architecture registry: `ArchitectureSpec`, `declare`, `register` and the look-ups. The family modules next to
this file declare the specs and register them on import; the package face (`__init__`) imports the families.

A spec says which inputs the model takes (names of shared `InputSpec`s, in forward-signature order), which tasks the
family can export (intersected with what the installed transformers has a head for), and its deviations (opset, atol,
config overrides for tracing, tasks that cannot work and why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from ..errors import UnsupportedFeatureError, UnsupportedModelError
from ..tasks import ENCODER_DECODER_TASKS, TASKS, WITH_PAST_SUFFIX, task_of, transformers_model_class_name

DEFAULT_ONNX_OPSET = 17
# scaled_dot_product_attention, the default attention of transformers 5, needs opset 14 in torch's exporter.
MIN_ONNX_OPSET = 14


# eq=False: specs are compared (and cached) by identity; each model type has exactly one.
@dataclass(frozen=True, eq=False)
class ArchitectureSpec:
    model_type: str
    onnx_config_name: str  # the seed's class name, e.g. "BertOnnxConfig"
    inputs: tuple[str, ...]
    tasks: tuple[str, ...]  # features, i.e. tasks possibly suffixed with -with-past
    atol: float = 1e-5
    min_opset: int = MIN_ONNX_OPSET
    # Config attributes set before the model is built and while tracing (e.g. to avoid a code path that cannot be
    # traced). With the Python API, load the model with these values: some are read only at construction.
    config_overrides: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    # (module:Class, attribute, replacement) swapped in while tracing and validating, and restored afterwards: for
    # code a tracer cannot record (e.g. a custom autograd Function where a plain function computes the same).
    patches: tuple = ()
    # input name -> axes, where the family names an axis differently (CLIP's separate text and image batches)
    input_axes: Mapping[str, Mapping[int, str]] = field(default_factory=lambda: MappingProxyType({}))
    # task -> {output name: axes}, where the family's outputs differ from the task table (e.g. a CNN's hidden state)
    output_axes: Mapping[str, Mapping[str, Mapping[int, str]]] = field(default_factory=lambda: MappingProxyType({}))
    # Tasks transformers supports but that cannot be exported, with the reason shown in the support table.
    unsupported: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    display_name: str = ""
    # made by the generic path from what transformers says of the model type, not declared in a family module
    generic: bool = False
    # inputs the `-with-past` graph takes besides `inputs` (an encoder's LM head decoding: the positions that
    # generate() derives from the mask)
    past_inputs: tuple = ()
    # the ONNX capture engine when --engine is not given, for models whose trace writes a graph ONNX Runtime rejects
    engine: str | None = None
    # the attention implementation the trace engine captures where the model would use SDPA ("eager"), for families
    # whose graph measured faster with it in ONNX Runtime (benchmarks/graph_speed.py); see onnx/lean_attention.py
    traced_attention: str | None = None

    @property
    def key(self) -> str:
        return normalize_model_type(self.model_type)

    @property
    def has_past(self) -> bool:
        return any(feature.endswith(WITH_PAST_SUFFIX) for feature in self.tasks)

    @property
    def is_seq2seq(self) -> bool:
        return any(task_of(feature) in ENCODER_DECODER_TASKS for feature in self.tasks)

    def transformers_supports(self, feature: str) -> bool:
        return transformers_model_class_name(TASKS[task_of(feature)], self.model_type) is not None

    @property
    def features(self) -> tuple[str, ...]:
        """Features that this installed transformers can load and we can export, in declaration order."""
        return tuple(f for f in self.tasks if f not in self.unsupported and self.transformers_supports(f))

    @property
    def blocked_features(self) -> dict[str, str]:
        return {f: reason for f, reason in self.unsupported.items() if self.transformers_supports(f)}


def declare(model_type: str, name: str, inputs, tasks, display: str = "", **deviations) -> ArchitectureSpec:
    """A spec from plain values: `name` is the seed's class prefix (`Bert` -> `BertOnnxConfig`), `display` the name
    people use when it differs; mappings among `deviations` are frozen."""
    for key in ("config_overrides", "unsupported", "output_axes", "input_axes"):
        if key in deviations:
            deviations[key] = MappingProxyType(dict(deviations[key]))
    return ArchitectureSpec(
        model_type, f"{name}OnnxConfig", tuple(inputs), tuple(tasks), display_name=display or name, **deviations
    )


def normalize_model_type(model_type: str) -> str:
    """Registry key: lower case with hyphens, so `mobilenet_v2` and `mobilenet-v2` are the same (legacy bug #20856)."""
    return model_type.lower().replace("_", "-")


_REGISTRY: dict[str, ArchitectureSpec] = {}
_GENERIC: dict[str, ArchitectureSpec] = {}  # specs the fallbacks made, so each model type gets one spec object


def register(*specs: ArchitectureSpec) -> None:
    for spec in specs:
        _REGISTRY[spec.key] = spec


def all_specs() -> list[ArchitectureSpec]:
    return sorted(_REGISTRY.values(), key=lambda spec: spec.key)


def find_spec(model_type: str) -> ArchitectureSpec | None:
    return _REGISTRY.get(normalize_model_type(model_type))


_FALLBACKS: list = []


def add_fallback(make_spec) -> None:
    """`make_spec(model_type) -> spec or None`, asked (and its answer kept) for model types the registry lacks."""
    _FALLBACKS.append(make_spec)


def get_spec(model_type: str) -> ArchitectureSpec:
    key = normalize_model_type(model_type)
    spec = _REGISTRY.get(key) or _GENERIC.get(key)
    for make_spec in _FALLBACKS if spec is None else ():
        spec = make_spec(model_type)
        if spec is not None:
            _GENERIC[key] = spec
            break
    if spec is None:
        supported = ", ".join(spec.key for spec in all_specs())
        raise UnsupportedModelError(
            f"model type '{model_type}' is not supported: no registry entry, and the generic path covers text "
            f"encoders and decoders only; registered: {supported}. "
            "To add one, subclass transformers_export.OnnxConfig and pass it to export() (see README)"
        )
    return spec


_BESIDE: dict[str, ArchitectureSpec | None] = {}  # the generic path's specs for registered model types


def spec_for_feature(model_type: str, feature: str) -> ArchitectureSpec:
    """`get_spec`'s spec; for a feature a registry entry does not declare (Gemma 3's text features beside its
    image-text-to-text entry), the generic path's spec when that covers the feature."""
    spec = get_spec(model_type)
    if feature in spec.features or spec.generic or feature in spec.unsupported:  # an entry's refusal stands
        return spec
    key = normalize_model_type(model_type)
    if key not in _BESIDE:
        _BESIDE[key] = next((found for make_spec in _FALLBACKS if (found := make_spec(model_type)) is not None), None)
    beside = _BESIDE[key]
    return beside if beside is not None and feature in beside.features else spec


def check_feature(spec: ArchitectureSpec, feature: str) -> None:
    if feature in spec.features:
        return
    reason = spec.blocked_features.get(feature)
    detail = f" ({reason})" if reason else ""
    raise UnsupportedFeatureError(
        f"{spec.key} doesn't support feature '{feature}'{detail}; supported features: {', '.join(spec.features)}"
    )
