"""The vision-language layout of image-text-to-text models (LLaVA-style): three graphs, run as generate() runs them.

- `vision_encoder.onnx` (role `vision`): `pixel_values` -> `image_features (images, image_tokens, text_hidden)`, the
  vision tower's selected layer through the projector, once per image.
- `embed_tokens.onnx` (role `embed`): `input_ids` -> `inputs_embeds`, the language model's token embeddings.
- `decoder_model.onnx` (role `decoder`): `inputs_embeds`, `attention_mask`, `position_ids` and the cache
  `past_key_values.{i}.key|value` -> `logits` and `present.{i}.key|value`, like a decoder-only export but fed
  embeddings.
The runtime puts the image features where the prompt holds the image token (as the model's `masked_scatter` does)
and feeds the merged embeddings to the decoder; later steps embed each new token alone.

Each graph is a small `GraphModule` over the loaded model with an export config, so the format backends and the
validation handle them like any other graph.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from ..cache import names as cache, objects as cache_objects
from ..config import OnnxConfig
from .base import DECODER, Decode, Layout, PlannedGraph, image_text_only, is_image_text, uses_cache
from .graph import GraphConfig, GraphModule

VISION_GRAPH, EMBED_GRAPH, DECODER_GRAPH = "vision_encoder", "embed_tokens", "decoder_model"
ROLES = ("vision", "embed", "decoder")


class VisionGraph(GraphModule):
    def __init__(self, model):
        super().__init__(model)
        config = model.config
        self.selection = {
            name: getattr(config, name, None) for name in ("vision_feature_layer", "vision_feature_select_strategy")
        }
        # LLaVA splits its projected features into a list, one entry per image, whose length a trace would fix: one
        # probe on one image says whether to compute them before that split instead
        vision = config.vision_config
        size = vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0]
        probe = torch.ones(1, getattr(vision, "num_channels", 3), size, size, dtype=next(model.parameters()).dtype)
        with torch.no_grad():
            self.splits_images = not hasattr(model.model, "connector") and isinstance(
                self._features(probe), (list, tuple)
            )

    def _features(self, pixel_values):
        features = self.model.model.get_image_features(pixel_values=pixel_values, **self.selection)
        return getattr(features, "pooler_output", features)

    def forward(self, pixel_values, return_dict=True):
        if hasattr(self.model.model, "connector"):
            features = self._connected(pixel_values)
        elif self.splits_images:
            features = self._projected(pixel_values, **self.selection)
        else:
            features = self._features(pixel_values)
        return {"image_features": features.reshape(pixel_values.shape[0], -1, features.shape[-1])}

    def _connected(self, pixel_values):
        """Idefics3 / SmolVLM: the vision model over every image (the runtime drops the processor's all-zero padding
        images, which the model removes by a data-dependent index), then the pixel-shuffling connector."""
        model = self.model.model
        patch = self.model.config.vision_config.patch_size
        patches = torch.ones(
            pixel_values.shape[0], pixel_values.shape[2] // patch, pixel_values.shape[3] // patch, dtype=torch.bool
        )
        states = model.vision_model(
            pixel_values=pixel_values, patch_attention_mask=patches, return_dict=True
        ).last_hidden_state
        return model.connector(states)

    def _projected(self, pixel_values, vision_feature_layer, vision_feature_select_strategy):
        model = self.model.model
        states = model.vision_tower(pixel_values, output_hidden_states=True, return_dict=True).hidden_states
        layers = [vision_feature_layer] if isinstance(vision_feature_layer, int) else vision_feature_layer
        selected = [states[layer] for layer in layers]
        if vision_feature_select_strategy == "default":
            selected = [state[:, 1:] for state in selected]  # without the class token
        return model.multi_modal_projector(torch.cat(selected, dim=-1))


def reads_patch_grids(config) -> bool:
    """Qwen2-VL-style: the vision tower reads flattened patches with each image's (time, height, width) patch grid,
    and the language model rotates by (time, height, width) positions (multimodal rotary sections)."""
    return hasattr(getattr(config, "vision_config", None), "temporal_patch_size")


def patch_grid(config, preprocessor=None) -> tuple[int, int]:
    """The (height, width) in patches of the one image size a patch-grid vision graph takes: 448 pixels a side (a
    multiple of the merged patch) with the checkpoint's image processor, else two merged patches a side."""
    vision = config.vision_config
    merged = vision.patch_size * vision.spatial_merge_size
    side = (
        max(1, 448 // merged) * vision.spatial_merge_size if preprocessor is not None else 2 * vision.spatial_merge_size
    )
    return side, side


class PatchVisionGraph(GraphModule):
    """The vision tower and merger of a Qwen2-VL-style model over one image of a fixed patch grid: `pixel_values
    (patches, channels * temporal_patch * patch²)` as its processor flattens them -> `image_features (1, tokens,
    text_hidden)`. The grid is fixed because the tower's rotary positions and attention windows are computed from
    the grid's values in Python, which a trace would freeze anyway."""

    def __init__(self, model, grid: tuple[int, int]):
        super().__init__(model)
        self.grid = grid

    def forward(self, pixel_values, return_dict=True):
        # made here, not held as a buffer: a constant to every capture (torch.export would take a buffer as an input,
        # and the tower's Python loops over its values as data-dependent)
        grid = torch.tensor([[1, *self.grid]])
        features = self.model.model.get_image_features(pixel_values=pixel_values, image_grid_thw=grid)
        features = getattr(features, "pooler_output", features)
        features = features[0] if isinstance(features, (list, tuple)) else features
        return {"image_features": features.reshape(1, -1, features.shape[-1])}


class EmbedGraph(GraphModule):
    def forward(self, input_ids, return_dict=True):
        return {"inputs_embeds": self.model.get_input_embeddings()(input_ids)}


class DecoderGraph(GraphModule):
    """One step of the language model over embeddings and its cache."""

    def forward(self, inputs_embeds, attention_mask, position_ids, token_type_ids=None, return_dict=True, **past):
        # the types of every token so far (PaliGemma, Gemma 3): the mask they make applies at every step
        types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        past_cache = cache_objects.prefix_mask_cache(past) if types else cache_objects.cache_from_named(past)
        output = self.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            return_dict=True,
            **types,
            **{cache_objects.cache_argument(self.model): past_cache},
        )
        return {
            "logits": output.logits,
            **cache.flatten(cache.PRESENT, cache_objects.layer_tensors(cache_objects.model_cache(output))),
        }


class VisionGraphConfig(GraphConfig):
    @property
    def inputs(self):
        return OrderedDict([("pixel_values", dict(self.parent.inputs["pixel_values"]))])

    @property
    def outputs(self):
        return OrderedDict([("image_features", {0: "batch"})])


class PatchVisionGraphConfig(GraphConfig):
    def __init__(self, parent: OnnxConfig, grid: tuple[int, int]):
        super().__init__(parent)
        vision = parent._config.vision_config
        patch_width = getattr(vision, "in_channels", 3) * vision.temporal_patch_size * vision.patch_size**2
        self.pixel_shape = (grid[0] * grid[1], patch_width)

    @property
    def inputs(self):
        return OrderedDict([("pixel_values", {})])  # one image, at the export's patch grid

    @property
    def outputs(self):
        return OrderedDict([("image_features", {})])

    def _generated_inputs(self):
        return {}

    def _extra_dummy_inputs(self, sizes):
        return {"pixel_values": torch.randn(*self.pixel_shape, generator=torch.Generator().manual_seed(0))}


class EmbedGraphConfig(GraphConfig):
    @property
    def inputs(self):
        return OrderedDict([("input_ids", {0: "batch", 1: "sequence"})])

    @property
    def outputs(self):
        return OrderedDict([("inputs_embeds", {0: "batch", 1: "sequence"})])


class DecoderGraphConfig(GraphConfig):
    @property
    def outputs(self):
        return self.parent.outputs

    def _generated_inputs(self):
        return {
            name: axes
            for name, axes in self.inputs.items()
            if not cache.is_past(name) and not self._rotary_positions(name)
        }

    def _extra_dummy_inputs(self, sizes):
        tensors = self.parent._extra_dummy_inputs(sizes)
        if self._rotary_positions("position_ids"):  # (time, height, width) positions: text-like ones for the trace
            positions = torch.arange(sizes["past_sequence"], sizes["past_sequence"] + sizes["sequence"])
            tensors["position_ids"] = positions.expand(3, sizes["batch"], -1).contiguous()
        return tensors

    def _rotary_positions(self, name: str) -> bool:
        return name == "position_ids" and reads_patch_grids(self._config)

    @property
    def inputs(self):
        inputs = OrderedDict([("inputs_embeds", {0: "batch", 1: "sequence"})])
        for name, axes in self.parent.inputs.items():
            if name not in ("input_ids", "pixel_values"):
                inputs[name] = {1: "batch", 2: "sequence"} if self._rotary_positions(name) else axes
        return inputs


def vision_language_graphs(
    model, parent_config: OnnxConfig, preprocessor=None
) -> list[tuple[str, torch.nn.Module, OnnxConfig]]:
    """(graph name, module, export config) of each graph of the layout, in the order they run."""
    graphs = []
    if reads_patch_grids(model.config):
        grid = patch_grid(model.config, preprocessor)
        vision = (PatchVisionGraph(model, grid), PatchVisionGraphConfig(parent_config, grid))
    else:
        vision = (VisionGraph(model), VisionGraphConfig(parent_config))
    for name, (module, config) in (
        (VISION_GRAPH, vision),
        (EMBED_GRAPH, (EmbedGraph(model), EmbedGraphConfig(parent_config))),
        (DECODER_GRAPH, (DecoderGraph(model), DecoderGraphConfig(parent_config))),
    ):
        config.bind_model(module)
        graphs.append((name, module, config))
    return graphs


class VisionLanguageLayout(Layout):
    """Image-text-to-text with a cache: the vision graph per image, the embedding graph, then the decoder over
    embeddings step by step."""

    roles = ROLES

    def is_default(self, onnx_config, feature: str) -> bool:
        return is_image_text(feature)

    def refusal(self, onnx_config, feature: str, model_key: str) -> str | None:
        if not is_image_text(feature):
            return f"--layout {self.name} is for image-text-to-text models; {model_key} --feature {feature} is not one"
        if not uses_cache(onnx_config):
            return image_text_only(feature, model_key)
        return None

    def graphs(self, model, onnx_config, preprocessor=None) -> list[PlannedGraph]:
        graphs = vision_language_graphs(model, onnx_config, preprocessor)
        return [PlannedGraph(name, role, module, config) for role, (name, module, config) in zip(self.roles, graphs)]

    def decode(self, graphs, backend) -> Decode:
        return Decode(DECODER, len(graphs) - 1)  # the decoder over embeddings, last of the three graphs
