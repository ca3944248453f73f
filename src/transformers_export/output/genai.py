"""`genai_config.json` beside a decoder with a KV cache, so that onnxruntime-genai runs the folder unchanged.

Written from the graph as `export.json` records it (its input names, and the cache's fixed sizes) and the model's
config, for every `causal-lm-with-past` ONNX export, float or quantized. onnxruntime-genai's decoder-only model reads
the graph through these names only, so every such graph is declared as its generic `llama` type (its other types
select the same decoder; GPT-2 runs only so declared). Graphs it cannot run (recurrent state, no attention cache) get
no config, and the export says why in one line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..cache.names import PAST, PRESENT, cache_name, is_past, is_state, parse_name

logger = logging.getLogger(__name__)
CONFIG = "genai_config.json"
# what onnxruntime-genai can feed; a graph needing any other input is not declared
FED = ("input_ids", "attention_mask", "position_ids")
# the default context when the config names none (onnxruntime-genai needs one to size its buffers)
FALLBACK_CONTEXT = 4096


def genai_config(file: str, entry: dict, model_config, generation_config=None) -> dict | str:
    """The config for the graph `file` (its export.json entry), or why onnxruntime-genai cannot run it."""
    inputs = entry["inputs"]
    past = [name for name in inputs if is_past(name)]
    if not past:
        return "the graph has no attention cache"
    if any(is_state(name) for name in past):
        return "its cache holds recurrent state, which onnxruntime-genai's decoder does not carry"
    unfed = [name for name in inputs if name not in FED and not is_past(name)]
    if unfed:
        return f"it takes {', '.join(unfed)}, which onnxruntime-genai does not feed"
    first = inputs[cache_name(PAST, 0, "key")].get("shape")
    if not first or not all(isinstance(size, int) for size in (first[1], first[3])):
        return "export.json does not record the cache's sizes (export it again)"
    text = model_config.get_text_config()
    layers = len({parse_name(name).layer for name in past})
    ids = {
        key: _first_set(generation_config, text, key) for key in ("bos_token_id", "eos_token_id", "pad_token_id")
    }
    if ids["pad_token_id"] is None:  # as generate() does: pad with the end token
        eos = ids["eos_token_id"]
        ids["pad_token_id"] = eos[0] if isinstance(eos, list) else eos
    return {
        "model": {
            **{key: value for key, value in ids.items() if value is not None},
            "context_length": getattr(text, "max_position_embeddings", None) or FALLBACK_CONTEXT,
            "vocab_size": text.vocab_size,
            "type": "llama",
            "decoder": {
                "filename": file,
                "head_size": first[3],
                "hidden_size": text.hidden_size,
                "num_attention_heads": text.num_attention_heads,
                "num_key_value_heads": first[1],
                "num_hidden_layers": layers,
                "inputs": {
                    **{name: name for name in FED if name in inputs},
                    "past_key_names": f"{PAST}.%d.key",
                    "past_value_names": f"{PAST}.%d.value",
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": f"{PRESENT}.%d.key",
                    "present_value_names": f"{PRESENT}.%d.value",
                },
                "session_options": {"provider_options": []},
            },
        },
        # the cache grows step by step: a buffer shared between past and present needs a fixed-size cache input
        "search": {"do_sample": False, "num_beams": 1, "past_present_share_buffer": False},
    }


def _first_set(generation_config, text_config, key):
    for source in (generation_config, text_config):
        value = getattr(source, key, None) if source is not None else None
        if value is not None:
            return value
    return None


def write_genai_config(folder: Path, manifest: dict, model_config, generation_config=None) -> dict:
    """Write `genai_config.json` for the export's decoder into the staged `folder`; return the manifest with it listed
    (or unchanged, with the reason logged, when onnxruntime-genai cannot run the graph)."""
    (file, entry), *others = manifest["graphs"].items()
    config = genai_config(file, entry, model_config, generation_config) if not others else "it has several graphs"
    if isinstance(config, str):
        logger.warning("no %s: onnxruntime-genai cannot run this export (%s)", CONFIG, config)
        return manifest
    (folder / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return {**manifest, "files": sorted({*manifest["files"], CONFIG})}
