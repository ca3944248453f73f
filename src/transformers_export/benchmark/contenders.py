"""The things a benchmark races, each on the same inputs: PyTorch eager (fp32, and bf16 where the CPU computes bf16
natively), TorchScript, torch.export, ONNX Runtime, and ONNX Runtime on each quantized variant.

A contender is opened lazily (`open()`), so that the resident memory it adds can be measured, into an `Opened`:
`prepare(inputs) -> run` converts the shared NumPy inputs to what it takes, outside the timing, and `generate(ids,
tokens)` (models with a cache) generates exactly `tokens` greedy tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..output.manifest import read_manifest
from ..tasks import GENERATING_TASKS, auto_class, get_task, task_of

TORCH_FORMATS = {"torchscript": "TorchScript", "exported-program": "torch.export", "aot-inductor": "AOTInductor"}


@dataclass
class Opened:
    prepare: Callable[[dict], Callable[[], object]]
    generate: Callable[[np.ndarray, int], object] | None = None


@dataclass
class Contender:
    name: str
    open: Callable[[], Opened]
    folder: Path | None = None  # an export's folder


def make_inputs(names: list[str], config, batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids (or pixels), full masks, zero token types, for the graph inputs `names`."""
    rng = np.random.default_rng(seed)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    vocab = int(getattr(text_config, "vocab_size", None) or 1000)
    inputs = {}
    for name in names:
        if name in ("input_ids", "decoder_input_ids"):
            inputs[name] = rng.integers(3, max(4, vocab - 1), (batch, length), dtype=np.int64)
        elif name in ("attention_mask", "decoder_attention_mask"):
            inputs[name] = np.ones((batch, length), np.int64)
        elif name == "token_type_ids":
            inputs[name] = np.zeros((batch, length), np.int64)
        elif name == "pixel_values":
            vision = getattr(config, "vision_config", None) or config
            size = getattr(vision, "image_size", 224)
            height, width = (size, size) if isinstance(size, int) else tuple(size)[:2]
            inputs[name] = rng.random((batch, getattr(vision, "num_channels", 3), height, width), dtype=np.float32)
        elif name == "pixel_mask":
            continue
        else:
            raise ValueError(f"the benchmark cannot make the input '{name}'; benchmark a text or vision export")
    return inputs


def eager(source: str, feature: str, dtype=None) -> Contender:
    import torch

    def open_():
        model = auto_class(get_task(task_of(feature))).from_pretrained(source, dtype=dtype or torch.float32).eval()

        def prepare(inputs):
            tensors = {
                k: torch.from_numpy(v).to(dtype) if v.dtype == np.float32 and dtype else torch.from_numpy(v)
                for k, v in inputs.items()
            }

            def run():
                with torch.inference_mode():
                    return model(**tensors)

            return run

        def generate(ids, tokens):
            with torch.inference_mode():
                return model.generate(
                    torch.from_numpy(ids), do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens
                )

        return Opened(prepare, generate if task_of(feature) in GENERATING_TASKS else None)

    return Contender("PyTorch eager fp32" if dtype is None else "PyTorch eager bf16", open_)


def torch_format(folder: Path, format: str, name: str | None = None) -> Contender:
    import torch

    from ..formats.pytorch import load
    from ..runtime.decoder import position_ids_from_mask

    manifest = read_manifest(folder)
    graph = manifest.role("model")
    names = list(graph.inputs)

    def open_():
        program = load(folder / graph.file, format)

        def prepare(inputs):
            if "position_ids" in names and "position_ids" not in inputs:  # traced decoders take them explicitly
                length = inputs["input_ids"].shape[1]
                inputs = {**inputs, "position_ids": position_ids_from_mask(inputs["attention_mask"], length)}
            missing = [name for name in names if name not in inputs]
            if missing:
                raise ValueError(f"the benchmark cannot make the input(s) {', '.join(missing)} of {graph.file}")
            tensors = [torch.from_numpy(inputs[name]) for name in names]

            def run():
                with torch.inference_mode():
                    return program(*tensors)

            return run

        return Opened(prepare)

    return Contender(name or TORCH_FORMATS[format], open_, folder)


def onnx(folder: Path, name: str, threads: int | None = None) -> Contender:
    from ..runtime import from_pretrained

    def open_():
        model = from_pretrained(folder, threads=threads)
        generating = model.can_generate()

        def prepare(inputs):
            if generating:  # the whole prompt in one step (an empty past), as eager computes it
                return lambda: model(**inputs)
            feed = model.feed(inputs)
            return lambda: model.run(feed)

        def generate(ids, tokens):
            return model.generate(ids, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens)

        return Opened(prepare, generate if generating else None)

    return Contender(name, open_, folder)
