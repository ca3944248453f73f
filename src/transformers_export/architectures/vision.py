"""Image models: `pixel_values` in (dynamic batch; channels and image size fixed from the config)."""

from .registry import ArchitectureSpec, declare, register

VISION_TASKS = ("default", "image-classification", "masked-im", "semantic-segmentation", "object-detection")
PIXELS = ("pixel_values",)
# Token sequences (ViT family) keep a sequence axis; feature maps (CNNs) only a batch axis.
TOKENS = {"default": {"last_hidden_state": {0: "batch", 1: "sequence"}}}
FEATURE_MAP = {"default": {"last_hidden_state": {0: "batch"}}}
UPERNET = "UperNet head: adaptive_avg_pool2d over a traced size (torch's trace engine cannot export it)"


# Fully convolutional models take any image size: height and width stay dynamic (validated at other sizes).
ANY_SIZE = {"pixel_values": {0: "batch", 2: "height", 3: "width"}}


def vision(model_type: str, name: str, outputs=TOKENS, **deviations) -> ArchitectureSpec:
    # eager attention: 0.9x the SDPA graph's latency for ViT and DeiT (benchmarks/RESULTS.md, issue #30)
    deviations.setdefault("traced_attention", "eager")
    return declare(
        model_type, name, PIXELS, VISION_TASKS, output_axes=outputs, atol=deviations.pop("atol", 1e-4), **deviations
    )


def convnet(model_type: str, name: str, **deviations) -> ArchitectureSpec:
    return vision(model_type, name, FEATURE_MAP, input_axes=ANY_SIZE, **deviations)


register(
    vision("vit", "ViT"),
    vision("deit", "DeiT"),
    vision("beit", "Beit", display="BEiT", unsupported={"semantic-segmentation": UPERNET}),
    vision("data2vec-vision", "Data2VecVision", unsupported={"semantic-segmentation": UPERNET}),
    vision("dinov2", "Dinov2", display="DINOv2"),
    convnet("convnext", "ConvNext", display="ConvNeXt"),
    convnet("resnet", "ResNet", atol=1e-3),
    vision("swin", "Swin", display="Swin Transformer"),
    vision("swinv2", "Swinv2", display="Swin Transformer V2"),
    convnet("convnextv2", "ConvNextV2", display="ConvNeXt V2"),
    # TF-style "same" padding is computed in Python from the input size: traced, it only fits the traced size
    vision("mobilenet_v1", "MobileNetV1", FEATURE_MAP),
    vision("mobilenet_v2", "MobileNetV2", FEATURE_MAP),
    vision("mobilevit", "MobileViT", FEATURE_MAP),
    # torch.export fixes PoolFormer's image size through its pooling arithmetic, so it keeps the traced size
    vision("poolformer", "PoolFormer", FEATURE_MAP, atol=2e-3),
    vision("levit", "Levit", display="LeViT"),
    vision("segformer", "Segformer", FEATURE_MAP, display="SegFormer"),
    vision("yolos", "Yolos", display="YOLOS"),
    # a convolutional backbone and a set-prediction transformer: any image size, with a mask for padded images
    declare(
        "detr",
        "Detr",
        ("pixel_values", "pixel_mask"),
        VISION_TASKS,
        display="DETR",
        atol=1e-4,
        input_axes={**ANY_SIZE, "pixel_mask": {0: "batch", 1: "height", 2: "width"}},
        output_axes={"default": {"last_hidden_state": {0: "batch"}}},
    ),
)


# Contrastive image-text models: texts and images are separate batches; logits pair every image with every text.
_CONTRASTIVE_OUTPUTS = {
    "logits_per_image": {0: "image_batch", 1: "text_batch"},
    "logits_per_text": {0: "text_batch", 1: "image_batch"},
    "text_embeds": {0: "text_batch"},
    "image_embeds": {0: "image_batch"},
}
_CONTRASTIVE_INPUTS = {
    "input_ids": {0: "text_batch", 1: "sequence"},
    "attention_mask": {0: "text_batch", 1: "sequence"},
    "pixel_values": {0: "image_batch"},
}


def contrastive(model_type: str, name: str, inputs, **deviations) -> ArchitectureSpec:
    outputs = {"default": _CONTRASTIVE_OUTPUTS, "zero-shot-image-classification": _CONTRASTIVE_OUTPUTS}
    return declare(
        model_type,
        name,
        inputs,
        ("default", "zero-shot-image-classification"),
        output_axes=outputs,
        input_axes=_CONTRASTIVE_INPUTS,
        atol=1e-4,
        **deviations,
    )


register(
    contrastive("clip", "CLIP", ("input_ids", "pixel_values", "attention_mask")),
    # SigLIP's text tower is trained without a padding mask (its tokenizer pads to max_length and returns none)
    contrastive("siglip", "Siglip", ("input_ids", "pixel_values"), display="SigLIP"),
    vision("clip_vision_model", "CLIPVision", display="CLIP vision tower"),
    vision("siglip_vision_model", "SiglipVision", display="SigLIP vision tower"),
    declare("clip_text_model", "CLIPText", ("input_ids", "attention_mask"), ("default",), display="CLIP text tower"),
)
