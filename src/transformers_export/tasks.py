"""Task ("feature") names, their aliases, their Auto classes and outputs, and inference of the task from a config.

The seed calls tasks "features"; a feature is a task optionally suffixed with `-with-past`.
Which model types support which task is read from transformers' own Auto mappings, so it never drifts from what the
installed transformers can load.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .errors import UnsupportedFeatureError, did_you_mean

WITH_PAST_SUFFIX = "-with-past"


@dataclass(frozen=True)
class Task:
    name: str
    auto_class: str
    mapping: str  # name of the *_MAPPING_NAMES dict in transformers.models.auto.modeling_auto
    outputs: tuple[tuple[str, tuple[tuple[int, str], ...]], ...]

    def common_outputs(self) -> OrderedDict:
        return OrderedDict((name, dict(axes)) for name, axes in self.outputs)


_BATCH_SEQ = ((0, "batch"), (1, "sequence"))

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("default", "AutoModel", "MODEL_MAPPING_NAMES", (("last_hidden_state", _BATCH_SEQ),)),
        Task("masked-lm", "AutoModelForMaskedLM", "MODEL_FOR_MASKED_LM_MAPPING_NAMES", (("logits", _BATCH_SEQ),)),
        Task("causal-lm", "AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", (("logits", _BATCH_SEQ),)),
        Task(
            "seq2seq-lm",
            "AutoModelForSeq2SeqLM",
            "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
            (("logits", ((0, "batch"), (1, "decoder_sequence"))),),
        ),
        # Speech encoder-decoders (Whisper): the encoder reads log-mel features or the waveform.
        Task(
            "speech2seq-lm",
            "AutoModelForSpeechSeq2Seq",
            "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
            (("logits", ((0, "batch"), (1, "decoder_sequence"))),),
        ),
        # Image-text-to-text generators (LLaVA-style): exported as the vision-language layout
        Task(
            "image-text-to-text",
            "AutoModelForImageTextToText",
            "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
            (("logits", _BATCH_SEQ),),
        ),
        Task(
            "sequence-classification",
            "AutoModelForSequenceClassification",
            "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
            (("logits", ((0, "batch"),)),),
        ),
        Task(
            "multiple-choice",
            "AutoModelForMultipleChoice",
            "MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES",
            (("logits", ((0, "batch"), (1, "num_choices"))),),
        ),
        Task(
            "token-classification",
            "AutoModelForTokenClassification",
            "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
            (("logits", _BATCH_SEQ),),
        ),
        Task(
            "image-classification",
            "AutoModelForImageClassification",
            "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
            (("logits", ((0, "batch"),)),),
        ),
        Task(
            "masked-im",
            "AutoModelForMaskedImageModeling",
            "MODEL_FOR_MASKED_IMAGE_MODELING_MAPPING_NAMES",
            # transformers 5 names the output `reconstruction` (the seed's table said logits)
            (("reconstruction", ((0, "batch"),)),),
        ),
        Task(
            "semantic-segmentation",
            "AutoModelForSemanticSegmentation",
            "MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES",
            (("logits", ((0, "batch"),)),),
        ),
        Task(
            "object-detection",
            "AutoModelForObjectDetection",
            "MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES",
            (("logits", ((0, "batch"),)), ("pred_boxes", ((0, "batch"),))),
        ),
        Task(
            "zero-shot-image-classification",
            "AutoModelForZeroShotImageClassification",
            "MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES",
            (("logits_per_image", ((0, "batch"),)), ("logits_per_text", ((0, "batch"),))),
        ),
        # Speech encoders: `frames` is the audio length after the convolutional feature encoder.
        Task(
            "audio-classification",
            "AutoModelForAudioClassification",
            "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES",
            (("logits", ((0, "batch"),)),),
        ),
        Task("ctc", "AutoModelForCTC", "MODEL_FOR_CTC_MAPPING_NAMES", (("logits", ((0, "batch"), (1, "frames"))),)),
        Task(
            "audio-frame-classification",
            "AutoModelForAudioFrameClassification",
            "MODEL_FOR_AUDIO_FRAME_CLASSIFICATION_MAPPING_NAMES",
            (("logits", ((0, "batch"), (1, "frames"))),),
        ),
        Task(
            "question-answering",
            "AutoModelForQuestionAnswering",
            "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
            (("start_logits", _BATCH_SEQ), ("end_logits", _BATCH_SEQ)),
        ),
    )
}

# Pipeline task names accepted for the seed's feature names. A name that covers several features (speech
# recognition is CTC for wav2vec2 and speech-to-text for Whisper) means the first one the model supports.
ALIASES: dict[str, tuple[str, ...]] = {
    "feature-extraction": ("default",),
    "fill-mask": ("masked-lm",),
    "text-classification": ("sequence-classification",),
    "text-generation": ("causal-lm",),
    "text2text-generation": ("seq2seq-lm",),
    "summarization": ("seq2seq-lm",),
    "translation": ("seq2seq-lm",),
    "automatic-speech-recognition": ("ctc", "speech2seq-lm"),
    "image-segmentation": ("semantic-segmentation",),
}
# image-classification is the seed's name and the modern one


# tasks whose graphs are an encoder and a decoder, and whose `-with-past` export is the generation layout
ENCODER_DECODER_TASKS = ("seq2seq-lm", "speech2seq-lm")
# tasks that generate(): their `-with-past` export is what generation needs
GENERATING_TASKS = ("causal-lm", "image-text-to-text", *ENCODER_DECODER_TASKS)


def task_of(feature: str) -> str:
    """The seed's `feature_to_task`: strip the `-with-past` suffix."""
    return feature.replace(WITH_PAST_SUFFIX, "")


def canonical_feature(feature: str, supported: tuple[str, ...] = ()) -> str:
    """Map an alias (`fill-mask`, `feature-extraction-with-past`, ...) to the seed's feature name: of an alias's
    features, the first in `supported` (a model's features), else its first."""
    with_past = feature.endswith(WITH_PAST_SUFFIX)
    suffix = WITH_PAST_SUFFIX if with_past else ""
    candidates = ALIASES.get(task_of(feature), (task_of(feature),))
    return next((task + suffix for task in candidates if task + suffix in supported), candidates[0] + suffix)


def get_task(name: str) -> Task:
    task = task_of(canonical_feature(name))
    if task not in TASKS:
        known = ", ".join(sorted(TASKS))
        raise UnsupportedFeatureError(
            f"unknown feature '{name}';{_closest_feature(name)} known features: {known}, each also as NAME-with-past "
            f"for a model with a cache (aliases: {', '.join(ALIASES)})"
        )
    return TASKS[task]


def _closest_feature(name: str) -> str:
    """' did you mean 'X'?' for a near miss (`causal_lm_with_past`, `sequence-clasification`), else ''."""
    names = [*TASKS, *ALIASES]
    return did_you_mean(name.replace(" ", "-"), [*names, *(known + WITH_PAST_SUFFIX for known in names)], 0.75)


def _mapping(task: Task) -> dict:
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, task.mapping)


def transformers_model_class_name(task: Task, model_type: str) -> str | None:
    """The class transformers loads for (task, model_type), or None when transformers has no such head."""
    return _mapping(task).get(model_type)


def auto_class(task: Task):
    import transformers

    return getattr(transformers, task.auto_class)


def infer_feature(config) -> str:
    """Infer the feature offline from `config.architectures` (what `save_pretrained` recorded).

    Checked against every task's Auto mapping; the first architecture that one of them names wins.
    """
    architectures = list(getattr(config, "architectures", None) or [])
    model_type = config.model_type
    # BART's ForConditionalGeneration is in the masked-LM mapping too: seq2seq-lm is asked first. (XLM's LM head is in
    # both the masked- and the causal-LM mappings; masked-lm, first in TASKS, is its task.)
    ordered = [TASKS["seq2seq-lm"], *(task for name, task in TASKS.items() if name != "seq2seq-lm")]
    for architecture in architectures:
        for task in ordered:
            if transformers_model_class_name(task, model_type) == architecture:
                return task.name
    if not architectures:
        raise UnsupportedFeatureError(
            "cannot infer the feature: config.json has no 'architectures' entry; pass --feature explicitly"
        )
    raise UnsupportedFeatureError(
        f"cannot infer the feature from architectures {architectures}; pass --feature explicitly"
    )
