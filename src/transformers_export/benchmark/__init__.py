"""`transformers-export benchmark MODEL_OR_FOLDER`: every way to run the model, raced on the same inputs.

A checkpoint is exported first (ONNX with the cache for generating models; TorchScript and torch.export for the
task without it; each `--quantize` scheme); an exported folder is raced as it is, against PyTorch on the checkpoint
its `export.json` names. Latency is measured in interleaved rounds after warm-up; exports with a cache also report
greedy generation tokens/s. Everything is on this machine's CPU, whose flags the report records.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..output.manifest import MANIFEST, read_manifest
from ..tasks import task_of
from . import contenders as make
from .machine import has_native_bf16, machine
from .measure import interleaved, resident_mib, summary
from .report import BASELINE

CONTENDER_KEYS = ("eager", "bf16", "torchscript", "exported-program", "onnx")  # the default race
# raced when named: compiling a package needs a C++ compiler and takes minutes for a large model
OPTIONAL_CONTENDERS = ("aot-inductor",)


@dataclass
class BenchmarkRequest:
    model: str
    feature: str | None = None
    batch_sizes: tuple[int, ...] = (1, 8)
    sequence_length: int = 128
    threads: int | None = None
    runs: int = 20
    warmup: int = 3
    quantize: tuple[str, ...] = ()
    contenders: tuple[str, ...] = CONTENDER_KEYS
    generate_tokens: int = 32
    work_dir: Path | None = None


def _export(source: str, folder: Path, feature: str, **options) -> Path:
    from ..pipeline import export_model

    if not (folder / MANIFEST).is_file():
        export_model(source, folder, feature=feature, **options)
    return folder


def _contenders(request: BenchmarkRequest, work: Path, stage: Callable[[str], None]):
    target = Path(request.model)
    if (target / MANIFEST).is_file():
        manifest = read_manifest(target)
        source, feature = manifest.data["source"], manifest.feature
        if (
            manifest.data.get("source_is_folder")
            and not Path(source).is_dir()
            and set(request.contenders or ["eager"]) - {"onnx"}
        ):
            raise ValueError(
                f"'{target}' names its checkpoint by its folder's name, '{source}', which is not here; run from the "
                "folder that holds it, benchmark the checkpoint itself, or pass --contenders onnx"
            )
        if manifest.format != "onnx":
            raise ValueError(f"'{target}' holds a {manifest.format} export; benchmark an ONNX export or the checkpoint")
        name = f"ONNX Runtime{' ' + manifest.data['quantization'] if manifest.data.get('quantization') else ''}"
        onnx_folders = {name: target} if "onnx" in request.contenders else {}
    else:
        from ..resolve.features import default_feature

        source = request.model
        feature = request.feature or default_feature(source)
        onnx_folders = {}
        if "onnx" in request.contenders:
            stage(f"exporting {feature} to ONNX")
            onnx_folders["ONNX Runtime"] = _export(source, work / "onnx", feature)
    for scheme in request.quantize:
        stage(f"exporting {feature} to ONNX, quantized ({scheme})")
        # raced whatever its cosine to PyTorch (random-weight checkpoints fail int4's check): the report shows it
        onnx_folders[f"ONNX Runtime {scheme}"] = _export(
            source, work / f"onnx-{scheme}", feature, quantize=scheme, min_cosine=-1.0
        )
    found = []
    if "eager" in request.contenders or not request.contenders:
        found.append(make.eager(source, feature))
    if "bf16" in request.contenders and has_native_bf16():
        import torch

        found.append(make.eager(source, feature, torch.bfloat16))
    for format, label in make.TORCH_FORMATS.items():
        if format in request.contenders:
            stage(f"exporting {task_of(feature)} as {label}")
            found.append(make.torch_format(_export(source, work / format, task_of(feature), format=format), format))
    if "aot-inductor" in request.contenders:
        from ..formats import get_backend

        for scheme in (s for s in request.quantize if s in get_backend("aot-inductor").quantizations):
            stage(f"exporting {task_of(feature)} as AOTInductor, quantized ({scheme})")
            folder = _export(
                source,
                work / f"aot-inductor-{scheme}",
                task_of(feature),
                format="aot-inductor",
                quantize=scheme,
                min_cosine=-1.0,
            )
            found.append(make.torch_format(folder, "aot-inductor", f"AOTInductor {scheme}"))
    found += [make.onnx(folder, name, request.threads) for name, folder in onnx_folders.items()]
    return source, feature, found


def _input_names(feature: str, config) -> list[str]:
    if task_of(feature) == "seq2seq-lm":
        return ["input_ids", "attention_mask", "decoder_input_ids"]
    if task_of(feature) in ("image-classification", "semantic-segmentation", "object-detection", "masked-im"):
        return ["pixel_values"]
    names = ["input_ids", "attention_mask"]
    if task_of(feature) != "causal-lm" and getattr(config, "type_vocab_size", 0):
        names.append("token_type_ids")
    return names


def run_benchmark(request: BenchmarkRequest, stage: Callable[[str], None] = lambda text: None, progress=None) -> dict:
    import torch
    from transformers import AutoConfig

    if request.threads:
        torch.set_num_threads(request.threads)
    temporary = None if request.work_dir else tempfile.TemporaryDirectory(prefix="transformers-export-benchmark-")
    work = Path(request.work_dir or temporary.name)
    try:
        source, feature, contenders = _contenders(request, work, stage)
        config = AutoConfig.from_pretrained(source)
        shapes = [(batch, request.sequence_length) for batch in request.batch_sizes]
        inputs = {shape: make.make_inputs(_input_names(feature, config), config, *shape) for shape in shapes}
        opened, memory = {}, {}
        for contender in contenders:
            stage(f"opening {contender.name}")
            before = resident_mib()
            opened[contender.name] = contender.open()
            opened[contender.name].prepare(
                inputs[shapes[0]]
            )()  # arenas and lazy set-up count as the contender's memory
            memory[contender.name] = resident_mib() - before
        generating = {
            name: o.generate for name, o in opened.items() if o.generate is not None and request.generate_tokens > 0
        }
        total = len(shapes) * (request.warmup + request.runs) * len(contenders) + len(request.batch_sizes) * 4 * len(
            generating
        )
        tick = progress(total) if progress else (lambda: None)
        latency = []
        for shape in shapes:
            stage(f"measuring {shape[0]}×{shape[1]}")
            runners = {name: o.prepare(inputs[shape]) for name, o in opened.items()}
            times = interleaved(runners, request.runs, request.warmup, tick)
            results = {name: summary(seconds, shape[0]) for name, seconds in times.items()}
            base = results.get(BASELINE)
            for name, result in results.items():
                speedup = base["p50_ms"] / result["p50_ms"] if base else float("nan")
                latency.append(
                    {
                        "contender": name,
                        "batch": shape[0],
                        "sequence": shape[1],
                        **result,
                        "speedup": speedup,
                        "memory_mib": memory[name],
                    }
                )
        generation = _generation(request, generating, config, tick, stage)
        cosines = {c.name: _lowest_cosine(c.folder) for c in contenders if c.folder is not None}
    finally:
        if temporary is not None:
            temporary.cleanup()
    return {
        "model": request.model,
        "feature": feature,
        "source": source,
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "runs": request.runs,
        "warmup": request.warmup,
        "latency": latency,
        "generation": generation,
        "generation_tokens": request.generate_tokens,
        "generation_prompt": min(request.sequence_length, 32),
        "quantized_cosine": {name: cosine for name, cosine in cosines.items() if cosine is not None},
    }


def _lowest_cosine(folder: Path) -> float | None:
    """A quantized export's lowest cosine to PyTorch in its validation (export.json); None when not quantized."""
    data = read_manifest(folder).data
    preset = data.get("quantization")
    if not preset:
        return None
    runs = data.get("validation", {}).get("runs", [])
    return min(
        output["cosine"]
        for run in runs
        if run["graph"].endswith(f"({preset})")
        for output in run["outputs"].values()
        if output.get("cosine") is not None
    )


def _generation(request, generating, config, tick, stage) -> list[dict]:
    if not generating:
        return []
    prompt = min(request.sequence_length, 32)
    results = []
    for batch in request.batch_sizes:
        stage(f"generating at batch {batch}")
        ids = make.make_inputs(["input_ids"], config, batch, prompt, seed=1)["input_ids"]
        runners = {
            name: (lambda generate=generate: generate(ids, request.generate_tokens))
            for name, generate in generating.items()
        }
        times = interleaved(runners, 3, 1, tick)
        rates = {name: batch * request.generate_tokens / sorted(seconds)[1] for name, seconds in times.items()}
        base = rates.get(BASELINE)
        results += [
            {
                "contender": name,
                "batch": batch,
                "tokens_per_second": rate,
                "speedup": rate / base if base else float("nan"),
            }
            for name, rate in rates.items()
        ]
    return results
