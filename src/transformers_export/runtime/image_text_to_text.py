"""`OnnxModelForImageTextToText`: generation from an image and a prompt with an exported vision-language folder
(`image-text-to-text-with-past`: vision encoder, token embeddings, decoder with a cache; see the exporter's
`vision_language.py`).

The prompt's image tokens (one per image feature: the processor expands `<image>`) are replaced by the vision
encoder's features, in order, as the model's `masked_scatter` does; the decoder then runs on the merged embeddings and
each later step embeds its new token alone. Greedy, beam search and sampling are the text models' loops.
"""

from __future__ import annotations

import math

import numpy as np

from ..cache import names as cache
from .rotary_positions import prompt_positions, step_positions
from .decoder import position_ids_from_mask, presents_as_past
from .inputs import check_prompt
from .text_generation import GeneratingModel, streaming_to
from .inputs import as_numpy, is_torch
from .session import open_session


def image_token_id(config) -> int | None:
    """The token that marks where image features go (`image_token_id`, or `image_token_index` in older configs)."""
    return next(
        (
            getattr(config, name)
            for name in ("image_token_id", "image_token_index")
            if getattr(config, name, None) is not None
        ),
        None,
    )


class OnnxModelForImageTextToText(GeneratingModel):
    """An exported `image-text-to-text-with-past` folder: `generate(input_ids, pixel_values=...)` returns the tokens
    PyTorch's `generate()` returns (prompt first); `forward` the logits of a whole prompt."""

    tasks = ("image-text-to-text",)
    output_classes = ("CausalLMOutputWithPast",)

    def _open(self, provider, session_options, threads) -> None:
        super()._open(provider, session_options, threads)
        self.vision, self.embed, self.decoder = (
            open_session(self.manifest.path(role), provider, session_options, threads)
            for role in ("vision", "embed", "decoder")
        )
        self.session = self.decoder
        self.decoder_inputs = [item.name for item in self.decoder.get_inputs()]
        self.decoder_outputs = [item.name for item in self.decoder.get_outputs()]
        self.past_dims = {
            item.name: (item.shape[1], item.shape[3]) for item in self.decoder.get_inputs() if cache.is_past(item.name)
        }
        self.image_token_id = image_token_id(self.config)
        # Qwen2-VL-style: the vision graph takes one image's flattened patches, of one square grid; the decoder
        # (time, height, width) positions
        pixels = self.vision.get_inputs()[0].shape
        self.patch_grid = None
        if len(pixels) == 2:
            side = math.isqrt(pixels[0])
            merge = self.config.vision_config.spatial_merge_size
            self.patch_grid = (side, side, pixels[0], merge)

    def _patch_features(self, pixel_values, image_grid_thw) -> np.ndarray:
        """Image features of a patch-grid model: one vision graph run per image of the export's grid."""
        height, width, patches, _ = self.patch_grid
        flat = as_numpy("pixel_values", pixel_values, np.float32)
        grids = None if image_grid_thw is None else as_numpy("image_grid_thw", image_grid_thw).reshape(-1, 3)
        if grids is not None and (grids != (1, height, width)).any() or flat.ndim != 2 or len(flat) % patches:
            raise ValueError(
                f"this export's vision encoder takes images of {height} x {width} patches (image_grid_thw [1, "
                f"{height}, "
                f"{width}] each, {patches} patch rows); resize the images to that size with the checkpoint's processor"
            )
        return np.concatenate(
            [
                self.vision.run(["image_features"], {"pixel_values": image})[0]
                for image in np.split(flat, len(flat) // patches)
            ]
        )

    def _embeddings(
        self, input_ids: np.ndarray, pixel_values, pixel_attention_mask=None, image_grid_thw=None
    ) -> np.ndarray:
        embeddings = self.embed.run(["inputs_embeds"], {"input_ids": input_ids})[0]
        if pixel_values is None:
            return embeddings
        if self.patch_grid is not None:
            return self._merge(input_ids, embeddings, self._patch_features(pixel_values, image_grid_thw))
        images = as_numpy("pixel_values", pixel_values, np.float32)
        if images.ndim == 5:  # (batch, images, channels, height, width): Idefics3 / SmolVLM processors' tiles
            images = images.reshape(-1, *images.shape[2:])
            real = (images != 0).any(axis=(1, 2, 3))  # all-zero images pad the batch: the model drops them
            if pixel_attention_mask is not None:
                mask = as_numpy("pixel_attention_mask", pixel_attention_mask).reshape(len(real), -1)
                if not mask[real].all():
                    raise ValueError(
                        "pixel_attention_mask pads part of an image; the exported vision encoder takes whole images "
                        "only"
                    )
            images = images[real]
        expected = self.vision.get_inputs()[0].shape
        if images.ndim != 4 or any(
            isinstance(size, int) and images.shape[axis] != size for axis, size in enumerate(expected) if axis
        ):
            shown = ", ".join(str(size) if isinstance(size, int) else "images" for size in expected)
            raise ValueError(
                f"pixel_values must have shape ({shown}), got {images.shape}; make them with the checkpoint's processor"
            )
        return self._merge(input_ids, embeddings, self.vision.run(["image_features"], {"pixel_values": images})[0])

    def _merge(self, input_ids: np.ndarray, embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The image features in the prompt's image-token slots, in order (the model's `masked_scatter`)."""
        slots = input_ids == self.image_token_id
        if slots.sum() != features.shape[0] * features.shape[1]:
            raise ValueError(
                f"input_ids hold {int(slots.sum())} image tokens (id {self.image_token_id}) but the images give "
                f"{features.shape[0]} x {features.shape[1]} features; make the prompt with the checkpoint's processor, "
                "which expands each image placeholder to its features"
            )
        embeddings[slots] = features.reshape(-1, features.shape[-1])
        return embeddings

    def _types(self, token_type_ids, ids: np.ndarray) -> np.ndarray | None:
        """The prompt's token types, for a decoder that reads them (PaliGemma's prefix, Gemma 3's images)."""
        if "token_type_ids" not in self.decoder_inputs:
            return None
        if token_type_ids is None:
            raise ValueError(
                "this model reads token_type_ids (which prompt tokens attend both ways); pass the ones its processor "
                "made"
            )
        types = as_numpy("token_type_ids", token_type_ids).astype(np.int64)
        if types.shape != ids.shape:
            raise ValueError(f"token_type_ids must have the shape of input_ids {ids.shape}, got {types.shape}")
        return types

    def _positions(self, ids: np.ndarray, mask: np.ndarray):
        """The prompt's positions, and what later steps add to theirs (Qwen2-VL-style rotary positions), or None."""
        if self.patch_grid is None:
            return None, None
        height, width, _, merge = self.patch_grid
        return prompt_positions(ids, mask, self.image_token_id, (height // merge, width // merge))

    def _step(self, embeddings, mask, past, types=None, positions=None):
        if positions is None:
            positions = position_ids_from_mask(mask, embeddings.shape[1])
        feed = {"inputs_embeds": embeddings, "attention_mask": mask, "position_ids": positions, **past}
        if types is not None:
            feed["token_type_ids"] = types
        outputs = dict(
            zip(
                self.decoder_outputs,
                self.decoder.run(self.decoder_outputs, {k: v for k, v in feed.items() if k in self.decoder_inputs}),
            )
        )
        return outputs["logits"], presents_as_past(outputs)

    def forward(
        self,
        input_ids=None,
        pixel_values=None,
        attention_mask=None,
        pixel_attention_mask=None,
        token_type_ids=None,
        image_grid_thw=None,
        **inputs,
    ):
        """Logits for a whole prompt (no past is taken or returned)."""
        if inputs:
            raise ValueError(
                f"unexpected input(s) {', '.join(inputs)}: the model takes input_ids, pixel_values and attention_mask"
            )
        torch_inputs = is_torch(input_ids)
        ids, mask = check_prompt(
            as_numpy("input_ids", input_ids),
            None if attention_mask is None else as_numpy("attention_mask", attention_mask),
        )
        past = cache.empty_past(self.past_dims, ids.shape[0], np.float32)
        embeddings = self._embeddings(ids, pixel_values, pixel_attention_mask, image_grid_thw)
        logits, _ = self._step(embeddings, mask, past, self._types(token_type_ids, ids), self._positions(ids, mask)[0])
        return self.wrap({"logits": logits}, torch_inputs)

    def generate(
        self,
        input_ids=None,
        pixel_values=None,
        attention_mask=None,
        generation_config=None,
        streamer=None,
        seed=None,
        pixel_attention_mask=None,
        token_type_ids=None,
        image_grid_thw=None,
        **kwargs,
    ):
        """Tokens as `generate()` returns them (the prompt first), from a prompt and, optionally, its images (and,
        from Idefics3 / SmolVLM processors, `pixel_attention_mask`)."""
        if input_ids is None:
            raise ValueError("generate() needs input_ids (the processor's prompt, image tokens expanded)")
        torch_inputs = is_torch(input_ids)
        settings = self._settings(generation_config, streamer, kwargs)
        ids, mask = check_prompt(input_ids, attention_mask)
        types = self._types(token_type_ids, ids)
        embeddings = self._embeddings(ids, pixel_values, pixel_attention_mask, image_grid_thw)
        positions, deltas = self._positions(ids, mask)
        rows = (
            settings.num_beams if settings.num_beams > 1 else settings.num_return_sequences if settings.do_sample else 1
        )
        if settings.do_sample and rows > 1:  # each sampled sequence is its own row, as generate() expands them
            ids = np.repeat(ids, rows, axis=0)
        state = {
            "embeddings": np.repeat(embeddings, rows, axis=0),
            "mask": np.repeat(mask, rows, axis=0),
            "past": cache.empty_past(
                self.past_dims, ids.shape[0] * (rows if settings.num_beams > 1 else 1), np.float32
            ),
            "types": None if types is None else np.repeat(types, rows, axis=0),
            "positions": None if positions is None else np.repeat(positions, rows, axis=1),
            "deltas": None if deltas is None else np.repeat(deltas, rows, axis=0),
        }

        def step(new_tokens):
            if state["embeddings"] is not None:  # the prompt: the merged embeddings, every beam's copy
                step_embeddings, state["embeddings"] = state["embeddings"], None
            else:
                state["mask"] = np.concatenate([state["mask"], np.ones((new_tokens.shape[0], 1), np.int64)], axis=1)
                if state["types"] is not None:  # generated tokens are PaliGemma's suffix (as generate() extends them)
                    state["types"] = np.concatenate(
                        [state["types"], np.ones((new_tokens.shape[0], 1), np.int64)], axis=1
                    )
                step_embeddings = self.embed.run(["inputs_embeds"], {"input_ids": new_tokens.astype(np.int64)})[0]
                if state["deltas"] is not None:
                    state["positions"] = step_positions(state["mask"], state["deltas"], 1)
            logits, state["past"] = self._step(
                step_embeddings, state["mask"], state["past"], state["types"], state["positions"]
            )
            return logits

        def reorder(kept):
            state["past"] = {name: value[kept] for name, value in state["past"].items()}
            state["mask"] = state["mask"][kept]
            if state["types"] is not None:
                state["types"] = state["types"][kept]
            if state["deltas"] is not None:
                state["deltas"] = state["deltas"][kept]

        rng = np.random.default_rng(seed) if settings.do_sample else None
        steps = self._recording(settings)
        sequences = self._search(step, reorder, ids, settings, rng, streaming_to(streamer, torch_inputs))
        if streamer is not None:
            streamer.end()
        return self._returned(sequences, steps, settings, torch_inputs)
