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
from functools import cache as memoize, partial
from itertools import chain
from typing import Any, Callable, Iterator, Mapping, Optional

from .cache import names as cache, objects as cache_objects
from .architectures.registry import DEFAULT_ONNX_OPSET, MIN_ONNX_OPSET, ArchitectureSpec
from .dummy_inputs.sizes import DEFAULT_SIZES
from .dummy_inputs.specs import input_axes, make_dummy_inputs
from .errors import ExportError, TraceError, UnsupportedFeatureError, first_line
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


# axes that `generate_dummy_inputs` takes as the seed's named arguments
_NAMED_SIZES = ("batch", "sequence", "num_choices", "past_sequence", "decoder_sequence", "height", "width")


class OnnxConfig(ABC):
    """Export description of an encoder: its inputs (abstract), its outputs for a task, opset and tolerance."""

    default_fixed_batch = DEFAULT_SIZES["batch"]
    default_fixed_sequence = DEFAULT_SIZES["sequence"]
    default_fixed_num_choices = DEFAULT_SIZES["num_choices"]
    default_fixed_past_sequence = DEFAULT_SIZES["past_sequence"]
    # the attention the trace captures in place of SDPA (formats/onnx/lean_attention.py); None keeps the model's
    traced_attention: str | None = None

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
    def is_seq2seq_graph(self) -> bool:
        """Whether the graph has an encoder and a decoder side (decoder inputs, two-sided cache)."""
        return False

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
        return (
            compute_serialized_parameters_size(num_parameters, ParameterFormat.Float) >= EXTERNAL_DATA_FORMAT_SIZE_LIMIT
        )

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
        past_length: int = -1,
        decoder_length: int = -1,
        image_height: int = -1,
        image_width: int = -1,
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
            "past_sequence": past_length if past_length >= 0 else self.default_fixed_past_sequence,
            "decoder_sequence": compute_effective_axis_dimension(decoder_length, DEFAULT_SIZES["decoder_sequence"]),
        }
        if getattr(self, "one_token_steps", False):
            sizes["sequence"] = 1
        sizes["encoder_sequence"] = sizes["sequence"]
        sizes["past_decoder_sequence"] = sizes["past_sequence"]
        # other axes by name (audio `samples`, `feature_frames`), as `generate_dummy_inputs_for_sizes` passes them
        sizes.update({axis: value for axis, value in unused_sizes.items() if isinstance(value, int) and value > 0})
        # only architectures whose image axes are dynamic use these; the others keep the config's image size
        sizes.update({axis: value for axis, value in (("height", image_height), ("width", image_width)) if value > 0})
        tensors = make_dummy_inputs(self._generated_inputs(), self._config, sizes, preprocessor)
        tensors.update(self._extra_dummy_inputs(sizes))
        tensors = {name: tensors[name] for name in self.inputs}
        float_dtype = getattr(self, "_float_dtype", None)
        if float_dtype is not None:  # a half-precision model takes half-precision pixels and caches
            tensors = {name: t.to(float_dtype) if t.is_floating_point() else t for name, t in tensors.items()}
        if framework is not None and str(getattr(framework, "value", framework)) == "np":
            return {name: tensor.numpy() for name, tensor in tensors.items()}
        return tensors

    def generate_dummy_inputs_for_sizes(self, sizes: Mapping[str, int], preprocessor=None) -> Mapping[str, Any]:
        """`generate_dummy_inputs` keyed by axis name (batch, sequence, num_choices, past_sequence, height, ...)."""
        return self.generate_dummy_inputs(
            preprocessor,
            batch_size=sizes.get("batch", -1),
            seq_length=sizes.get("sequence", -1),
            num_choices=sizes.get("num_choices", -1),
            past_length=sizes.get("past_sequence", -1),
            decoder_length=sizes.get("decoder_sequence", -1),
            image_height=sizes.get("height", -1),
            image_width=sizes.get("width", -1),
            **{axis: value for axis, value in sizes.items() if axis not in _NAMED_SIZES},
        )

    def _generated_inputs(self) -> Mapping[str, Mapping[int, str]]:
        """The inputs `make_dummy_inputs` generates by name; subclasses make the others in `_extra_dummy_inputs`."""
        return self.inputs

    def _extra_dummy_inputs(self, sizes: Mapping[str, int]) -> dict[str, Any]:
        return {}

    def bind_model(self, model) -> None:
        """Learn from the model what only a forward pass tells (cache shapes); called before export and validation.
        Subclasses that override it call it too: it records the model's float precision for the dummy inputs."""
        self._float_dtype = _float_dtype(model)

    def model_inputs(self, inputs: Mapping[str, Any], model) -> dict[str, Any]:
        """The forward keyword arguments for flat named inputs (the graph's inputs)."""
        return dict(inputs)

    def generate_dummy_inputs_onnxruntime(self, reference_model_inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        return reference_model_inputs

    def _all_patching_specs(self) -> list[PatchingSpec]:
        return self._patching_specs

    def patch_ops(self) -> None:
        for spec in self._all_patching_specs():
            op = spec.custom_op if spec.op_wrapper is None else spec.op_wrapper(spec.custom_op)
            setattr(spec.o, spec.name, op)

    def restore_ops(self) -> None:
        for spec in self._all_patching_specs():
            op = spec.orig_op if spec.op_wrapper is None else spec.op_wrapper(spec.orig_op)
            setattr(spec.o, spec.name, op)

    @contextmanager
    def patched(self, model) -> Iterator[None]:
        """Apply `patching_specs` and `values_override` for the duration of an export, and always undo them: also
        when applying one of them fails part-way, in which case exactly what was applied is undone."""
        undo: list[Callable[[], None]] = []
        try:
            for key, value in (self.values_override or {}).items():
                if hasattr(model.config, key):
                    undo.append(partial(setattr, model.config, key, getattr(model.config, key)))
                else:
                    undo.append(partial(delattr, model.config, key))
                setattr(model.config, key, value)
            for spec in self._all_patching_specs():
                # what is there now is what comes back, whatever `orig_op` says
                undo.append(partial(setattr, spec.o, spec.name, getattr(spec.o, spec.name)))
                op = spec.custom_op if spec.op_wrapper is None else spec.op_wrapper(spec.custom_op)
                setattr(spec.o, spec.name, op)
            yield
        finally:
            for step in reversed(undo):
                step()


def _float_dtype(model):
    for parameter in getattr(model, "parameters", lambda: [])():
        if parameter.is_floating_point():
            return parameter.dtype
    return None


class OnnxConfigWithPast(OnnxConfig, ABC):
    """Decoder models whose export may take and return a key/value cache (`use_past`); the cache tensors themselves
    are the `cache` module's."""

    def __init__(self, config, task: str = "default", patching_specs=None, use_past: bool = False):
        super().__init__(config, task=task, patching_specs=patching_specs)
        self.use_past = use_past
        self._layer_shapes: list | None = None

    @classmethod
    def with_past(cls, config, task: str = "default") -> "OnnxConfigWithPast":
        return cls(config, task=task, use_past=True)

    def bind_model(self, model) -> None:
        super().bind_model(model)
        # the shapes cannot change between export and validation, so one probe forward is enough
        if self.use_past and not self._layer_shapes:
            with self.patched(model):
                try:
                    self._layer_shapes = cache_objects.probe_layer_shapes(model)
                except (KeyboardInterrupt, MemoryError, ExportError):
                    raise
                except Exception as error:  # the model's own forward: its failure is the model's, named as such
                    first = first_line(error)
                    raise TraceError(
                        f"{type(model).__name__} fails on a one-token forward with a cache ({type(error).__name__}: "
                        f"{first}); export the feature without -with-past"
                    ) from error

    def layer_shapes(self) -> list:
        """Per-layer `LayerShape`s (encoder-decoders: (self, cross) pairs): from a real forward once bound, else from
        the config (kv heads, head_dim)."""
        if self._layer_shapes:
            return self._layer_shapes
        config = self._config
        attention_heads = self._decoder_value(self.num_attention_heads)
        heads = getattr(config, "num_key_value_heads", None) or attention_heads
        head_dim = getattr(config, "head_dim", None) or getattr(config, "d_kv", None)
        head_dim = head_dim or (getattr(config, "hidden_size", None) or config.d_model) // attention_heads
        shape = cache.LayerShape((heads, head_dim), (heads, head_dim))
        layer = (shape, shape) if self.is_seq2seq_graph else shape
        return [layer] * self._decoder_value(self.num_layers)

    @staticmethod
    def _decoder_value(value):
        """The decoder's entry of the seed's (encoder, decoder) tuples, or the value itself."""
        return value[1] if isinstance(value, tuple) else value

    def _generated_inputs(self):
        return {name: axes for name, axes in self.inputs.items() if not cache.is_past(name)}

    def _extra_dummy_inputs(self, sizes):
        if not self.use_past:
            return {}
        lengths = {
            None: sizes["past_sequence"],
            "decoder": sizes["past_sequence"],
            "encoder": sizes["encoder_sequence"],
        }
        return cache.dummy_past(sizes["batch"], self.layer_shapes(), lengths)

    def model_inputs(self, inputs, model):
        kwargs = {name: tensor for name, tensor in inputs.items() if not cache.is_past(name)}
        if self.use_past:
            rows = None
            if self.one_token_steps and "attention_mask" in inputs:
                rows = inputs["attention_mask"][:, -1]
                if not any(cache.is_past(name) and not cache.is_state(name) for name in inputs):
                    # no attention layer reads the mask, and a recurrent step reads none (generate() passes none
                    # after the prompt); padding is the rows' business (`cache_objects.StepRows`)
                    kwargs.pop("attention_mask")
            kwargs[cache_objects.cache_argument(model)] = cache_objects.cache_from_named(inputs, step_rows=rows)
            kwargs["use_cache"] = True
        return kwargs

    @property
    def one_token_steps(self) -> bool:
        """Whether the graph takes one token per call: it carries recurrent state, whose update is a per-token step."""
        return self.use_past and cache.has_states(self.layer_shapes())

    def one_token_axes(self, axes: Mapping[str, Mapping[int, str]]) -> dict:
        """`axes` with the new tokens' axis fixed at one token, for a graph with `one_token_steps`."""
        if not self.one_token_steps:
            return dict(axes)
        fixed = {}
        for name, name_axes in axes.items():
            name_axes = {
                axis: label.replace("+ sequence", "+ 1") for axis, label in name_axes.items() if label != "sequence"
            }
            fixed[name] = name_axes
        return fixed

    @property
    def outputs(self) -> Mapping[str, Mapping[int, str]]:
        common_outputs = super().outputs
        if self.use_past:
            self.fill_with_past_key_values_(common_outputs, direction="outputs")
        return OrderedDict(self.one_token_axes(common_outputs))

    @property
    def values_override(self) -> Optional[Mapping[str, Any]]:
        if hasattr(self._config, "use_cache"):
            return {"use_cache": self.use_past}
        return None

    @property
    def num_layers(self) -> int:
        if self._layer_shapes:
            return len(self._layer_shapes)
        if not hasattr(self._config, "num_layers") and not hasattr(self._config, "num_hidden_layers"):
            raise AttributeError(
                "could not find the number of layers attribute in the model configuration, override the num_layers "
                "property of the model OnnxConfig to solve this"
            )
        # decoder_layers: the decoder-only head of an encoder-decoder type (BartForCausalLM)
        config = self._config
        return (
            getattr(config, "decoder_layers", None) or getattr(config, "num_layers", None) or config.num_hidden_layers
        )

    @property
    def num_attention_heads(self) -> int:
        if hasattr(self._config, "decoder_attention_heads"):
            return self._config.decoder_attention_heads
        if not hasattr(self._config, "num_attention_heads"):
            raise AttributeError(
                "could not find the number of attention heads attribute in the model configuration, override the "
                "num_attention_heads property of the model OnnxConfig to solve this"
            )
        return self._config.num_attention_heads

    def fill_with_past_key_values_(self, inputs_or_outputs, direction: str, inverted_values_shape: bool = False):
        if direction not in ("inputs", "outputs"):
            raise ValueError(f'direction must either be "inputs" or "outputs", but {direction} was given')
        # Inputs hold the past only; outputs append the current tokens (the seed named both like the outputs).
        kind = cache.PAST if direction == "inputs" else cache.PRESENT
        layers = self._layer_shapes if self._layer_shapes else self._decoder_value(self.num_layers)
        for name, axes in cache.cache_entries(kind, layers, self.is_seq2seq_graph).items():
            if inverted_values_shape and name.endswith(".value"):
                axes = {0: axes[0], 1: axes[2]}
            inputs_or_outputs[name] = axes

    def flatten_output_collection_property(self, name: str, field) -> dict[str, Any]:
        if name in (cache.PRESENT, cache.PAST):
            return cache.flatten(name, field)
        return super().flatten_output_collection_property(name, field)


class OnnxSeq2SeqConfigWithPast(OnnxConfigWithPast):
    """Encoder-decoder models; the decoder's cache has a self-attention and a cross-attention part per layer.

    With the `causal-lm` task (the seed's `BartOnnxConfig(config, task="causal-lm")`) the export is the decoder alone,
    with a decoder-only cache.
    """

    # Their classification and QA heads derive the decoder inputs from `input_ids` (shifted right) and pool at the
    # end-of-sequence token, so the graph takes the encoder inputs only.
    tasks_without_decoder_inputs = ("sequence-classification", "question-answering", "audio-classification")

    @property
    def is_seq2seq_graph(self) -> bool:
        return self.task != "causal-lm"

    @property
    def outputs(self) -> Mapping[str, Mapping[int, str]]:
        if not self.is_seq2seq_graph:
            return super().outputs
        common_outputs = OnnxConfig.outputs.fget(self)
        for name, axes in common_outputs.items():
            encoder_side = "encoder" in name or self.task in self.tasks_without_decoder_inputs
            side = "encoder" if encoder_side else "decoder"
            for axis, axis_name in axes.items():
                if "sequence" in axis_name:
                    axes[axis] = f"{side}_sequence"
        if self.use_past:
            self.fill_with_past_key_values_(common_outputs, direction="outputs")
        return common_outputs

    @property
    def num_layers(self) -> tuple[int, int]:
        config = self._config
        for encoder, decoder in (
            ("encoder_layers", "decoder_layers"),
            ("encoder_num_hidden_layers", "decoder_num_hidden_layers"),
        ):
            if hasattr(config, encoder) and hasattr(config, decoder):
                return getattr(config, encoder), getattr(config, decoder)
        if hasattr(config, "num_layers"):
            return config.num_layers, getattr(config, "num_decoder_layers", None) or config.num_layers
        raise AttributeError(
            "could not find the number of encoder and decoder layers attributes in the model configuration, "
            "override the num_layers property of the model OnnxConfig to solve this"
        )

    @property
    def num_attention_heads(self) -> tuple[int, int]:
        config = self._config
        for encoder, decoder in (
            ("encoder_attention_heads", "decoder_attention_heads"),
            ("encoder_num_attention_heads", "decoder_num_attention_heads"),
        ):
            if hasattr(config, encoder) and hasattr(config, decoder):
                return getattr(config, encoder), getattr(config, decoder)
        if hasattr(config, "num_attention_heads"):
            return config.num_attention_heads, config.num_attention_heads
        raise AttributeError(
            "could not find the number of attention heads attributes in the model configuration, override the "
            "num_attention_heads property of the model OnnxConfig to solve this"
        )


class ArchitectureOnnxConfig:
    """Mixin: an export config whose knowledge comes from a registered `ArchitectureSpec` (`onnx_config_class`)."""

    spec: ArchitectureSpec

    @property
    def traced_attention(self) -> str | None:
        return self.spec.traced_attention

    @property
    def inputs(self) -> Mapping[str, Mapping[int, str]]:
        from .dummy_inputs.specs import INPUT_SPECS

        use_past = getattr(self, "use_past", False)
        seq2seq = self.is_seq2seq_graph
        inputs = OrderedDict()
        for name in self.spec.inputs:
            if not INPUT_SPECS[name].applies(self._config):
                continue
            if name.startswith("decoder_") and (not seq2seq or self.task in self.tasks_without_decoder_inputs):
                continue
            if use_past and not seq2seq and name == "token_type_ids" and self.task == "causal-lm":
                continue  # an encoder's LM head decoding one segment: the model's own zeros (the runtime feeds none)
            axes = dict(self.spec.input_axes.get(name) or input_axes(name, self.task))
            if seq2seq:
                axes = {
                    axis: "encoder_sequence" if axis_name == "sequence" else axis_name
                    for axis, axis_name in axes.items()
                }
                if use_past and name == "decoder_attention_mask":
                    axes = {0: "batch", 1: "past_decoder_sequence + decoder_sequence"}
            elif use_past and name == "attention_mask":
                axes = {0: "batch", 1: "past_sequence + sequence"}
            inputs[name] = axes
        if use_past and not seq2seq:
            for name in self.spec.past_inputs:
                inputs.setdefault(name, input_axes(name, self.task))
        if use_past:
            self.fill_with_past_key_values_(inputs, direction="inputs")
            return OrderedDict(self.one_token_axes(inputs))
        return inputs

    @property
    def outputs(self) -> Mapping[str, Mapping[int, str]]:
        if self.task in self.spec.output_axes:
            return OrderedDict((name, dict(axes)) for name, axes in self.spec.output_axes[self.task].items())
        return super().outputs

    def _all_patching_specs(self) -> list[PatchingSpec]:
        if not hasattr(self, "_spec_patches"):
            import importlib

            self._spec_patches = []
            for target, attribute, replacement in self.spec.patches:
                module_name, _, class_name = target.partition(":")
                # "module:Class" patches a class attribute, "module:" a module-level function
                module = importlib.import_module(module_name)
                owner = getattr(module, class_name) if class_name else module
                self._spec_patches.append(
                    PatchingSpec(owner, attribute, replacement, orig_op=getattr(owner, attribute))
                )
        return [*super()._all_patching_specs(), *self._spec_patches]

    @property
    def values_override(self) -> Optional[Mapping[str, Any]]:
        overrides = {**(super().values_override or {}), **self.spec.config_overrides}
        if self.task == "sequence-classification" and getattr(self._config, "pad_token_id", None) is None:
            # Decoder classifiers pool the last non-pad token and refuse batches > 1 without a pad id.
            eos = getattr(self._config, "eos_token_id", None)
            overrides["pad_token_id"] = (eos[0] if isinstance(eos, (list, tuple)) else eos) or 0
        return overrides

    @property
    def default_onnx_opset(self) -> int:
        return max(DEFAULT_ONNX_OPSET, self.spec.min_opset)

    @property
    def min_onnx_opset(self) -> int:
        return self.spec.min_opset

    @property
    def atol_for_validation(self) -> float:
        return self.spec.atol


def onnx_config_class(spec: ArchitectureSpec, task: str = "default") -> type[OnnxConfig]:
    """The seed-named class (`BertOnnxConfig`, `GPT2OnnxConfig`, ...) for a registered architecture; for the
    causal-lm head of an encoder-decoder type, its decoder config (`BartForCausalLMOnnxConfig`)."""
    decoder_of_seq2seq = spec.is_seq2seq and task == "causal-lm"
    return _generated_class(spec, decoder_of_seq2seq)


@memoize
def _generated_class(spec: ArchitectureSpec, decoder_of_seq2seq: bool) -> type[OnnxConfig]:
    package = spec.key.replace("-", "_")
    name = spec.onnx_config_name
    if decoder_of_seq2seq:
        base, name = OnnxConfigWithPast, name.replace("OnnxConfig", "ForCausalLMOnnxConfig")
    else:
        base = OnnxSeq2SeqConfigWithPast if spec.is_seq2seq else OnnxConfigWithPast if spec.has_past else OnnxConfig
    return type(
        name,
        (ArchitectureOnnxConfig, base),
        {
            "spec": spec,
            "__module__": f"transformers_export.models.{package}",
            "__doc__": f"Export config for {spec.key}.",
        },
    )
