"""The generic path: a spec for a text model type that transformers can load but that has no registry entry.

What a registry entry would say is read from transformers itself: the family from its Auto mappings (a masked-LM
head makes it an encoder, a causal-LM head without one a decoder with a cache), the inputs from the model's forward
signature, the tasks from the heads it has. The cache layout is probed from the `Cache` object a forward returns,
and the export is validated exactly like a registered one (fresh shapes, real decode steps). A registry entry stays
the way to correct a model this gets wrong. Speech encoders that take the raw waveform (`input_values`) get the
audio spec of `audio.py`, image encoders (`pixel_values`, an image head or a vision tower) the vision spec of
`vision.py`, contrastive image-text models (a zero-shot image classification class) its CLIP spec. Encoder-decoder
and other composite models are not guessed: they need the knowledge their registry entries carry.
"""

from __future__ import annotations

import inspect

from .audio import speech_encoder
from .decoders import DECODER_TASKS
from .encoders import ENCODER_TASKS
from .registry import ArchitectureSpec, add_fallback, declare
from .vision import FEATURE_MAP, VISION_TASKS, contrastive, vision

DECODER_INPUTS = ("input_ids", "attention_mask", "position_ids")
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _class(name):
    import transformers

    if isinstance(name, (tuple, list)):
        name = name[0]
    return getattr(transformers, name, None) if name else None


def _has_waveform_encoder(model_type: str) -> bool:
    from transformers import CONFIG_MAPPING

    try:
        config = CONFIG_MAPPING[model_type]()
    except Exception:  # a config that needs arguments, or a backend that is missing
        return False
    return hasattr(config, "conv_dim") and hasattr(config, "conv_stride")


def _is_image_model(model_type: str) -> bool:
    """transformers has an image head for it (classification, segmentation, detection, masked image modelling), an
    image processor and no video processor (video models take frames, not one image), or its base model is an image
    backbone (the vision tower of a composite model)."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES
    from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING_NAMES

    from ..tasks import TASKS, transformers_model_class_name

    if any(transformers_model_class_name(TASKS[task], model_type) for task in VISION_TASKS if task != "default"):
        return True
    if model_type in IMAGE_PROCESSOR_MAPPING_NAMES and model_type not in VIDEO_PROCESSOR_MAPPING_NAMES:
        return True
    return model_type.endswith(("_vision_model", "_vision"))


def _required_besides(parameters, *names: str) -> list[str]:
    return [
        other
        for other, parameter in parameters.items()
        if other not in ("self", *names)
        and parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def generic_spec(model_type: str) -> ArchitectureSpec | None:
    from transformers.models.auto import modeling_auto as auto

    if model_type in auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return None
    masked = model_type in auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    causal = auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(model_type)
    base = auto.MODEL_MAPPING_NAMES.get(model_type)
    decoder = causal is not None and not masked
    try:
        model_class = _class(causal if decoder else base) or _class(base)
        if model_class is None:
            return None
        parameters = inspect.signature(model_class.forward).parameters
    except ImportError:  # a class whose backend is not installed (torchaudio, ...): transformers cannot load it here
        return None
    if "input_values" in parameters and "input_ids" not in parameters:
        # a waveform encoder of the wav2vec2 kind (its convolutional feature encoder); codecs and spectrogram models
        # also name their input `input_values`, with other shapes
        if model_type in auto.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES or not _has_waveform_encoder(model_type):
            return None
        return speech_encoder(model_type, model_class.__name__.removesuffix("Model"), generic=True)
    if model_type in auto.MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES and not _required_besides(
        parameters, "input_ids", "pixel_values"
    ):
        # a contrastive image-text model of the CLIP kind: both towers in one graph, with their own batch axes
        inputs = [name for name in ("input_ids", "pixel_values", "attention_mask") if name in parameters]
        return contrastive(model_type, model_class.__name__.removesuffix("Model"), inputs, generic=True)
    if "pixel_values" in parameters and "input_ids" not in parameters and _is_image_model(model_type):
        if _required_besides(parameters, "pixel_values"):
            return None  # patch grids, position maps (Qwen2-VL-style towers): inputs only their processor makes
        # an image encoder: the vision spec at the config's image size, outputs with only their batch axis dynamic
        # (whether the states are tokens or a feature map, the image size fixes their other sizes)
        return vision(model_type, model_class.__name__.removesuffix("Model"), FEATURE_MAP, generic=True)
    if "input_ids" not in parameters:
        return None
    known = DECODER_INPUTS if decoder else ENCODER_INPUTS
    inputs = [name for name in parameters if name in known]
    name = (base if isinstance(base, str) else model_class.__name__).removesuffix("Model").removesuffix("ForCausalLM")
    # a decoder returns its cache only as a decoder (BertGeneration's decoder head is built on an encoder class)
    overrides = {"is_decoder": True} if decoder else {}
    # an encoder's LM head decoding with a cache takes the positions generate() derives from the mask
    past_inputs = ("position_ids",) if not decoder and "position_ids" in parameters else ()
    return declare(
        model_type,
        name or model_type,
        inputs,
        DECODER_TASKS if decoder else ENCODER_TASKS,
        generic=True,
        config_overrides=overrides,
        past_inputs=past_inputs,
    )


add_fallback(generic_spec)
