"""Which transformers output class (`SequenceClassifierOutput`, DETR's own, ...) holds a graph's outputs."""

from __future__ import annotations

import dataclasses


def _output_fields(output_class) -> set[str]:
    return (
        {field.name for field in dataclasses.fields(output_class)} if dataclasses.is_dataclass(output_class) else set()
    )


def output_class_for(names, preferred: tuple, model_type: str):
    """transformers' output class holding every one of `names`: the task's usual class, else the smallest fitting
    class of the model's own modeling module (DETR's, CLIP's), else a plain `ModelOutput`."""
    from transformers.utils import ModelOutput

    names = set(names)
    for candidate in preferred:
        if names <= _output_fields(candidate):
            return candidate
    fitting = []
    try:
        import importlib

        from transformers.models.auto.configuration_auto import model_type_to_module_name

        module_name = model_type_to_module_name(model_type)
        module = importlib.import_module(f"transformers.models.{module_name}.modeling_{module_name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ModelOutput) and names <= _output_fields(value):
                fitting.append(value)
    except (ImportError, KeyError, ValueError):
        pass
    if fitting:
        return min(fitting, key=lambda cls: (len(_output_fields(cls)), cls.__name__))
    return ModelOutput


def cache_field_name() -> str:
    """The output field holding a forward's cache: `cache` since transformers 5.25 (with `past_key_values` a read-only
    alias of it), `past_key_values` before."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in _output_fields(CausalLMOutputWithPast) else "past_key_values"
