"""One class per exported task that does not generate (the generating ones are in `generation.py`).

Each names the export features it opens and transformers' output class it returns; `OnnxModel` does the rest.
"""

from __future__ import annotations

from .base import OnnxModel


class OnnxModelForFeatureExtraction(OnnxModel):
    """`default` / `feature-extraction` exports: hidden states (and the pooled output where the model has one)."""

    tasks = ("default",)
    output_classes = ("BaseModelOutput", "BaseModelOutputWithPooling")


class OnnxModelForMaskedLM(OnnxModel):
    tasks = ("masked-lm",)
    output_classes = ("MaskedLMOutput",)


class OnnxModelForSequenceClassification(OnnxModel):
    tasks = ("sequence-classification",)
    output_classes = ("SequenceClassifierOutput",)


class OnnxModelForTokenClassification(OnnxModel):
    tasks = ("token-classification",)
    output_classes = ("TokenClassifierOutput",)


class OnnxModelForQuestionAnswering(OnnxModel):
    """`start_logits` / `end_logits`, as the PyTorch model returns them (transformers 5 has no QA pipeline)."""

    tasks = ("question-answering",)
    output_classes = ("QuestionAnsweringModelOutput",)


class OnnxModelForMultipleChoice(OnnxModel):
    tasks = ("multiple-choice",)
    output_classes = ("MultipleChoiceModelOutput",)


class OnnxModelForImageClassification(OnnxModel):
    tasks = ("image-classification",)
    output_classes = ("ImageClassifierOutput", "ImageClassifierOutputWithNoAttention")
    main_input_name = "pixel_values"


class OnnxModelForMaskedImageModeling(OnnxModel):
    tasks = ("masked-im",)
    output_classes = ("MaskedImageModelingOutput",)
    main_input_name = "pixel_values"


class OnnxModelForSemanticSegmentation(OnnxModel):
    tasks = ("semantic-segmentation",)
    output_classes = ("SemanticSegmenterOutput",)
    main_input_name = "pixel_values"


class OnnxModelForObjectDetection(OnnxModel):
    """Returns the model's own detection output (DETR's, YOLOS'), which its image processor post-processes."""

    tasks = ("object-detection",)
    main_input_name = "pixel_values"


class OnnxModelForZeroShotImageClassification(OnnxModel):
    """Returns the model's own output (CLIP's, SigLIP's): `logits_per_image`, `logits_per_text`, embeddings."""

    tasks = ("zero-shot-image-classification",)


class OnnxModelForCTC(OnnxModel):
    """`ctc` exports (wav2vec2 and kin): per-frame logits over the characters;
    `pipeline("automatic-speech-recognition")` decodes them with the checkpoint's processor."""

    tasks = ("ctc",)
    output_classes = ("CausalLMOutput",)
    main_input_name = "input_values"


class OnnxModelForAudioClassification(OnnxModel):
    tasks = ("audio-classification",)
    output_classes = ("SequenceClassifierOutput",)
    main_input_name = "input_values"


class OnnxModelForAudioFrameClassification(OnnxModel):
    tasks = ("audio-frame-classification",)
    output_classes = ("TokenClassifierOutput",)
    main_input_name = "input_values"
