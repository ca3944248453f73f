"""The seed's configuration API: `OnnxConfig`, `OnnxConfigWithPast`, `OnnxSeq2SeqConfigWithPast`, `PatchingSpec`.

Users subclass these (the seed's DistilBERT walk-through), so names and semantics follow the seed. Registered
architectures get a generated subclass (`onnx_config_class`) that reads everything from its `ArchitectureSpec`.
"""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from collections import OrderedDict
from contextlib import contextmanager
from ctypes import c_float, sizeof
from enum import Enum
from functools import cache
from itertools import chain
from typing import Any, Callable, Iterator, Mapping, Optional

from .architectures import DEFAULT_ONNX_OPSET, MIN_ONNX_OPSET, ArchitectureSpec
from .dummy_inputs import DEFAULT_SIZES, input_axes, make_dummy_inputs
from .errors import UnsupportedFeatureError
from .tasks import TASKS, canonical_feature, task_of

EXTERNAL_DATA_FORMAT_SIZE_LIMIT = 2 * 1024 * 1024 * 1024


class ParameterFormat(Enum):
    Float = c_float

    @property
    def size(self) -> int:
        return sizeof(self.value)


def compute_serialized_parameters_size(num_parameters: int, dtype: ParameterFormat) -> int:
    return num_parameters * dtype.size


def compute_effective_axis_dimension(dimension: int, fixed_dimension: int, num_token_to_add: int = 0) -> int:
    if dimension <= 0:
        dimension = fixed_dimension
    return dimension - num_token_to_add


@dataclasses.dataclass
class PatchingSpec:
    """Replace `o.name` by `custom_op` during export (optionally through `op_wrapper`), then restore it."""

    o: Any
    name: str
    custom_op: Callable
    orig_op: Optional[Callable] = None
    op_wrapper: Optional[Callable] = None


class OnnxConfig(ABC):
    """Export description of an encoder: its inputs (abstract), its outputs for a task, opset and tolerance."""

    default_fixed_batch = DEFAULT_SIZES["batch"]
    default_fixed_sequence = DEFAULT_SIZES["sequence"]
    default_fixed_num_choices = DEFAULT_SIZES["num_choices"]

    def __init__(self, config, task: str = "default", patching_specs: list[PatchingSpec] | None = None):
        self._config = config
        feature = canonical_feature(task)
        if task_of(feature) not in self._tasks_to_common_outputs:
            raise UnsupportedFeatureError(
                f"{task} is not a supported task, supported tasks: {list(self._tasks_to_common_outputs)}"
            )
        self.task = task_of(feature)
        self._patching_specs = [
            spec if spec.orig_op is not None else dataclasses.replace(spec, orig_op=getattr(spec.o, spec.name))
            for spec in (patching_specs or [])
        ]

    @classmethod
    def from_model_config(cls, config, task: str = "default") -> "OnnxConfig":
        return cls(config, task=task)

    @property
    def _tasks_to_common_outputs(self) -> dict[str, OrderedDict]:
        return {name: task.common_outputs() for name, task in TASKS.items()}

    @property
    @abstractmethod
    def inputs(self) -> Mapping[str, Mapping[int, str]]:
        """Input name -> {axis index: symbolic axis name}, in forward-signature order."""

    @property
    def outputs(self) -> Mapping[str, Mapping[int, str]]:
        return copy.deepcopy(self._tasks_to_common_outputs[self.task])

    @property
    def values_override(self) -> Optional[Mapping[str, Any]]:
        """Config attributes set on the model while exporting (reverted afterwards, unlike the seed)."""
        if hasattr(self._config, "use_cache"):
            return {"use_cache": False}
        return None

    @property
    def default_batch_size(self) -> int:
        return self.default_fixed_batch

    @property
    def default_sequence_length(self) -> int:
        return self.default_fixed_sequence

    @property
    def default_num_choices(self) -> int:
        return self.default_fixed_num_choices

    @property
    def default_onnx_opset(self) -> int:
        return DEFAULT_ONNX_OPSET

    @property
    def min_onnx_opset(self) -> int:
        return MIN_ONNX_OPSET

    @property
    def atol_for_validation(self) -> float:
        return 1e-5

    @property
    def is_torch_support_available(self) -> bool:
        try:
            import torch  # noqa: F401
        except ImportError:
            return False
        return True

    @staticmethod
    def use_external_data_format(num_parameters: int) -> bool:
        return compute_serialized_parameters_size(num_parameters, ParameterFormat.Float) >= EXTERNAL_DATA_FORMAT_SIZE_LIMIT

    @classmethod
    def flatten_output_collection_property(cls, name: str, field) -> dict[str, Any]:
        return {f"{name}.{idx}": item for idx, item in enumerate(chain.from_iterable(field))}

    def generate_dummy_inputs(
        self,
        preprocessor=None,
        batch_size: int = -1,
        seq_length: int = -1,
        num_choices: int = -1,
        is_pair: bool = False,
        framework=None,
        **unused_sizes,
    ) -> Mapping[str, Any]:
        """Inputs for every entry of `inputs`. -1 means the config's default size (dynamic axis).

        Unlike the seed, sizes are exact: special tokens are not subtracted, and no tokenizer is required (ids are
        drawn from the vocabulary in the model config; a tokenizer only narrows the id range).
        """
        sizes = {
            "batch": compute_effective_axis_dimension(batch_size, self.default_batch_size),
            "sequence": compute_effective_axis_dimension(seq_length, self.default_sequence_length),
            "num_choices": compute_effective_axis_dimension(num_choices, self.default_num_choices),
        }
        tensors = make_dummy_inputs(self.inputs, self._config, sizes, preprocessor)
        if framework is not None and str(getattr(framework, "value", framework)) == "np":
            return {name: tensor.numpy() for name, tensor in tensors.items()}
        return tensors

    def generate_dummy_inputs_onnxruntime(self, reference_model_inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        return reference_model_inputs

    def patch_ops(self) -> None:
        for spec in self._patching_specs:
            op = spec.custom_op if spec.op_wrapper is None else spec.op_wrapper(spec.custom_op)
            setattr(spec.o, spec.name, op)

    def restore_ops(self) -> None:
        for spec in self._patching_specs:
            op = spec.orig_op if spec.op_wrapper is None else spec.op_wrapper(spec.orig_op)
            setattr(spec.o, spec.name, op)

    @contextmanager
    def patched(self, model) -> Iterator[None]:
        """Apply `patching_specs` and `values_override` for the duration of an export, and always undo them."""
        overrides = dict(self.values_override or {})
        saved = {key: getattr(model.config, key) for key in overrides if hasattr(model.config, key)}
        for key, value in overrides.items():
            setattr(model.config, key, value)
        self.patch_ops()
        try:
            yield
        finally:
            self.restore_ops()
            for key in overrides:
                if key in saved:
                    setattr(model.config, key, saved[key])
                else:
                    delattr(model.config, key)


class OnnxConfigWithPast(OnnxConfig, ABC):
    """Decoder models whose export may take and return a key/value cache (`use_past`)."""

    def __init__(self, config, task: str = "default", patching_specs=None, use_past: bool = False):
        super().__init__(config, task=task, patching_specs=patching_specs)
        self.use_past = use_past

    @classmethod
    def with_past(cls, config, task: str = "default") -> "OnnxConfigWithPast":
        return cls(config, task=task, use_past=True)

    @property
    def outputs(self) -> Mapping[str, Mapping[int, str]]:
        common_outputs = super().outputs
        if self.use_past:
            self.fill_with_past_key_values_(common_outputs, direction="outputs")
        return common_outputs

    @property
    def values_override(self) -> Optional[Mapping[str, Any]]:
        if hasattr(self._config, "use_cache"):
            return {"use_cache": self.use_past}
        return None

    @property
    def num_layers(self) -> int:
        if not hasattr(self._config, "num_layers") and not hasattr(self._config, "num_hidden_layers"):
            raise AttributeError(
                "could not find the number of layers attribute in the model configuration, override the num_layers "
                "property of the model OnnxConfig to solve this"
            )
        return getattr(self._config, "num_layers", None) or self._config.num_hidden_layers

    @property
    def num_attention_heads(self) -> int:
        if not hasattr(self._config, "num_attention_heads"):
            raise AttributeError(
                "could not find the number of attention heads attribute in the model configuration, override the "
                "num_attention_heads property of the model OnnxConfig to solve this"
            )
        return self._config.num_attention_heads

    def _past_layer_count(self) -> int:
        return self.num_layers

    def fill_with_past_key_values_(self, inputs_or_outputs, direction: str, inverted_values_shape: bool = False):
        if direction not in ("inputs", "outputs"):
            raise ValueError(f'direction must either be "inputs" or "outputs", but {direction} was given')
        name = "past_key_values" if direction == "inputs" else "present"
        for i in range(self._past_layer_count()):
            inputs_or_outputs[f"{name}.{i}.key"] = {0: "batch", 2: "past_sequence + sequence"}
            value_axis = 1 if inverted_values_shape else 2
            inputs_or_outputs[f"{name}.{i}.value"] = {0: "batch", value_axis: "past_sequence + sequence"}

    def _flatten_past_key_values_(self, flattened_output, name, idx, t):
        flattened_output[f"{name}.{idx}.key"] = t[0]
        flattened_output[f"{name}.{idx}.value"] = t[1]

    def flatten_output_collection_property(self, name: str, field) -> dict[str, Any]:
        flattened_output = {}
        if name in ("present", "past_key_values"):
            for idx, t in enumerate(field):
                self._flatten_past_key_values_(flattened_output, name, idx, t)
        else:
            flattened_output = super().flatten_output_collection_property(name, field)
        return flattened_output


class OnnxSeq2SeqConfigWithPast(OnnxConfigWithPast):
    """Encoder-decoder models; the decoder's cache has a self-attention and a cross-attention part per layer."""

    @property
    def outputs(self) -> Mapping[str, Mapping[int, str]]:
        common_outputs = OnnxConfig.outputs.fget(self)
        for name, axes in common_outputs.items():
            side = "encoder" if "encoder" in name else "decoder"
            for axis, axis_name in axes.items():
                if "sequence" in axis_name:
                    axes[axis] = f"{side}_sequence"
        if self.use_past:
            self.fill_with_past_key_values_(common_outputs, direction="outputs")
        return common_outputs

    @property
    def num_layers(self) -> tuple[int, int]:
        config = self._config
        if hasattr(config, "encoder_layers") and hasattr(config, "decoder_layers"):
            return config.encoder_layers, config.decoder_layers
        if hasattr(config, "num_layers"):
            return config.num_layers, getattr(config, "num_decoder_layers", None) or config.num_layers
        raise AttributeError(
            "could not find the number of encoder and decoder layers attributes in the model configuration, "
            "override the num_layers property of the model OnnxConfig to solve this"
        )

    @property
    def num_attention_heads(self) -> tuple[int, int]:
        config = self._config
        if hasattr(config, "encoder_attention_heads") and hasattr(config, "decoder_attention_heads"):
            return config.encoder_attention_heads, config.decoder_attention_heads
        if hasattr(config, "num_attention_heads"):
            return config.num_attention_heads, config.num_attention_heads
        raise AttributeError(
            "could not find the number of attention heads attributes in the model configuration, override the "
            "num_attention_heads property of the model OnnxConfig to solve this"
        )

    def _past_layer_count(self) -> int:
        return self.num_layers[1]

    def fill_with_past_key_values_(self, inputs_or_outputs, direction: str, inverted_values_shape: bool = False):
        if direction not in ("inputs", "outputs"):
            raise ValueError(f'direction must either be "inputs" or "outputs", but {direction} was given')
        name = "past_key_values" if direction == "inputs" else "present"
        decoder_axis = "past_decoder_sequence" if direction == "inputs" else "past_decoder_sequence + sequence"
        for i in range(self._past_layer_count()):
            for kind in ("key", "value"):
                inputs_or_outputs[f"{name}.{i}.decoder.{kind}"] = {0: "batch", 2: decoder_axis}
                inputs_or_outputs[f"{name}.{i}.encoder.{kind}"] = {0: "batch", 2: "encoder_sequence_out"}

    def _flatten_past_key_values_(self, flattened_output, name, idx, t):
        for position, part in enumerate(("decoder.key", "decoder.value", "encoder.key", "encoder.value")):
            if position < len(t):
                flattened_output[f"{name}.{idx}.{part}"] = t[position]


class ArchitectureOnnxConfig(OnnxConfig):
    """An `OnnxConfig` whose knowledge comes from a registered `ArchitectureSpec` (set by `onnx_config_class`)."""

    spec: ArchitectureSpec

    @property
    def inputs(self) -> Mapping[str, Mapping[int, str]]:
        from .dummy_inputs import INPUT_SPECS

        return OrderedDict(
            (name, input_axes(name, self.task)) for name in self.spec.inputs if INPUT_SPECS[name].applies(self._config)
        )

    @property
    def values_override(self) -> Optional[Mapping[str, Any]]:
        return {**(super().values_override or {}), **self.spec.config_overrides}

    @property
    def default_onnx_opset(self) -> int:
        return max(DEFAULT_ONNX_OPSET, self.spec.min_opset)

    @property
    def min_onnx_opset(self) -> int:
        return self.spec.min_opset

    @property
    def atol_for_validation(self) -> float:
        return self.spec.atol


@cache
def onnx_config_class(spec: ArchitectureSpec) -> type[ArchitectureOnnxConfig]:
    """The seed-named class (`BertOnnxConfig`, ...) for a registered architecture."""
    package = spec.key.replace("-", "_")
    return type(
        spec.onnx_config_name,
        (ArchitectureOnnxConfig,),
        {"spec": spec, "__module__": f"transformers_export.models.{package}", "__doc__": f"Export config for {spec.key}."},
    )
