"""Image-text-to-text generators exported as the vision-language layout (`vision_language.py`): a vision encoder
with the projector, the token embeddings, and a decoder with a KV cache that takes embeddings. The family's inputs
are those of the decoder plus the image; the image token marks where the image features go."""

from .registry import declare, register

VISION_LANGUAGE_TASKS = ("image-text-to-text-with-past",)
PROMPT_AND_IMAGE = ("input_ids", "attention_mask", "position_ids", "pixel_values")
PROMPT_AND_TYPES = (*PROMPT_AND_IMAGE, "token_type_ids")
TYPES_SO_FAR = {"token_type_ids": {0: "batch", 1: "past_sequence + sequence"}}

register(
    declare("llava", "Llava", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="LLaVA", atol=1e-4),
    # a SigLIP tower and a pixel-shuffling projector: the image features come from get_image_features as they are
    declare("aya_vision", "AyaVision", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="Aya Vision", atol=1e-4),
    # image features straight from get_image_features, as for Aya Vision
    declare("internvl", "InternVL", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, atol=1e-4),
    declare("got_ocr2", "GotOcr2", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="GOT-OCR 2.0", atol=1e-4),
    declare(
        "cohere2_vision",
        "Cohere2Vision",
        PROMPT_AND_IMAGE,
        VISION_LANGUAGE_TASKS,
        display="Command A Vision",
        atol=1e-4,
    ),
    declare("ovis2", "Ovis2", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, atol=1e-4),
    declare("deepseek_vl", "DeepseekVL", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="DeepSeek-VL", atol=1e-4),
    # a SigLIP-style vision model and a pixel-shuffling connector; the processor's image tiles are images here. The
    # trace engine writes their vision embeddings' position lookup with a float index, which ONNX Runtime rejects
    declare("idefics3", "Idefics3", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, atol=1e-4, engine="dynamo"),
    declare("smolvlm", "SmolVLM", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, atol=1e-4, engine="dynamo"),
    # LLaVA's layout with features from several vision layers (VipLLaVA), video towers (Video-LLaVA's image path),
    # GOT-OCR 2.0's classes under another name (PP-Chart2Table), InternVL's layout (Qianfan-OCR)
    declare("vipllava", "VipLlava", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="VipLLaVA", atol=1e-4),
    declare(
        "video_llava", "VideoLlava", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="Video-LLaVA (images)", atol=1e-4
    ),
    declare(
        "pp_chart2table", "PPChart2Table", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="PP-Chart2Table", atol=1e-4
    ),
    declare("qianfan_ocr", "QianfanOCR", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="Qianfan-OCR", atol=1e-4),
    declare("aria", "Aria", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, atol=1e-4, engine="dynamo"),
    # token_type_ids over every token so far: PaliGemma's image and prompt prefix (0) and Gemma 3's images (1)
    # attend both ways; the decoder applies that mask at every step (a new token is never part of either)
    declare("paligemma", "PaliGemma", PROMPT_AND_TYPES, VISION_LANGUAGE_TASKS, atol=1e-4, input_axes=TYPES_SO_FAR),
    declare(
        "gemma3",
        "Gemma3",
        PROMPT_AND_TYPES,
        VISION_LANGUAGE_TASKS,
        display="Gemma 3",
        atol=1e-4,
        input_axes=TYPES_SO_FAR,
    ),
    # flattened patches of one fixed grid per image, and (time, height, width) rotary positions (3, batch, sequence)
    declare("qwen2_vl", "Qwen2VL", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="Qwen2-VL", atol=1e-4),
    declare("qwen2_5_vl", "Qwen2_5_VL", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="Qwen2.5-VL", atol=1e-4),
    declare("glm4v", "Glm4v", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="GLM-4V", atol=1e-4),
    declare("glm46v", "Glm46V", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="GLM-4.6V", atol=1e-4),
    declare("glm_ocr", "GlmOcr", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="GLM-OCR", atol=1e-4),
    declare("glmga", "Glmga", PROMPT_AND_IMAGE, VISION_LANGUAGE_TASKS, display="GLM-GA", atol=1e-4),
)
