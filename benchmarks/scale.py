"""Export time, peak memory and bytes written against model size: Llama-shaped decoders from 0.1B to 3B parameters.

    python benchmarks/scale.py --work /path/with/room [--sizes 0.1B,0.5B,0.85B,1.5B,3B] [--dtypes fp32,bf16]
                               [--optimum-cli /side-env/bin/optimum-cli] [--results benchmarks/RESULTS.md]

Checkpoints are built once per shape and dtype with a fixed seed (random weights, safetensors) and kept in --work.
Each is exported with `--feature causal-lm-with-past` (validation included) in a child process, measured for wall
time and peak RSS; bytes on disk and the validation stage's time come from the export itself. With --optimum-cli (a
side environment with Optimum and transformers < 4.58), optimum-cli exports the same checkpoint in the same run.
Writes a markdown table (stdout, and into --results between markers) and a plot next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

# name -> (hidden, intermediate, layers, heads, kv heads); vocabulary 32000, untied head
SHAPES = {
    "0.1B": (768, 2048, 12, 12, 4),
    "0.5B": (1536, 4096, 16, 16, 8),
    "0.85B": (2048, 5632, 16, 32, 8),
    "1.5B": (2048, 5632, 30, 32, 8),
    "3B": (3072, 8192, 26, 24, 8),
}
START, END = "<!-- scale:start -->", "<!-- scale:end -->"


def build(name: str, dtype: str, work: Path) -> Path:
    folder = work / f"llama-{name}-{dtype}"
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, intermediate, layers, heads, kv_heads = SHAPES[name]
    config = LlamaConfig(
        vocab_size=32000, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, tie_word_embeddings=False, max_position_embeddings=2048,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16 if dtype == "bf16" else torch.float32).eval()
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, max_shard_size="50GB")
    staging.rename(folder)
    return folder


def parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as weights:
            for key in weights.keys():
                total += _numel(weights.get_slice(key).get_shape())
    return total


def _numel(shape) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def measure(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS GiB of the process and its children, stderr)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        return seconds, usage.ru_maxrss / 1024**2, "FAILED: " + stderr.strip().splitlines()[-1]
    return seconds, usage.ru_maxrss / 1024**2, stderr


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def cpu() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.*)", text)
    flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split()) if "flags" in text else set()
    shown = [flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if flag in flags]
    return f"{model.group(1) if model else platform.processor()} ({', '.join(shown)}), {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sizes", default=",".join(SHAPES))
    parser.add_argument("--dtypes", default="fp32,bf16")
    parser.add_argument("--optimum-cli", default="")
    # Optimum needs about 2.2x the fp32 weights in memory: 1.5B and up do not fit in 24 GiB beside the page cache
    parser.add_argument("--optimum-sizes", default="0.1B,0.5B,0.85B")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.sizes.split(","):
        for dtype in args.dtypes.split(","):
            checkpoint = build(name, dtype, args.work)
            count = parameters(checkpoint)
            out = args.work / "export"
            shutil.rmtree(out, ignore_errors=True)
            command = [sys.executable, "-m", "transformers_export", "-m", str(checkpoint), "--feature", "causal-lm-with-past", str(out)]
            seconds, rss, stderr = measure(command)
            validate = re.search(r"\[\s*([\d.]+)s\] validated", stderr)
            written = folder_bytes(out) if out.exists() else 0
            status = "ok" if not stderr.startswith("FAILED") else stderr
            rows.append(dict(size=name, dtype=dtype, params=count, exporter="transformers-export", seconds=seconds, rss=rss,
                             written=written, validate=float(validate.group(1)) if validate else None, status=status))
            print(rows[-1], flush=True)
            shutil.rmtree(out, ignore_errors=True)
            if args.optimum_cli and dtype == "fp32" and name in args.optimum_sizes.split(","):
                seconds, rss, stderr = measure([args.optimum_cli, "export", "onnx", "-m", str(checkpoint), "--task", "text-generation-with-past", str(out)])
                rows.append(dict(size=name, dtype=dtype, params=count, exporter="optimum-cli", seconds=seconds, rss=rss,
                                 written=folder_bytes(out) if out.exists() else 0, validate=None,
                                 status="ok" if not stderr.startswith("FAILED") else stderr))
                print(rows[-1], flush=True)
                shutil.rmtree(out, ignore_errors=True)
    table = render(rows)
    print(table)
    (args.work / "scale.json").write_text(json.dumps(rows, indent=1))
    if args.results:
        plot(rows, args.results.with_name("scale.png"))
        text = args.results.read_text()
        block = f"{START}\n{table}\n\n![time and peak RSS against parameters](scale.png)\n{END}"
        text = re.sub(f"{START}.*?{END}", block, text, flags=re.S) if START in text else text + "\n" + block + "\n"
        args.results.write_text(text)


def render(rows: list[dict]) -> str:
    lines = [
        f"CPU: {cpu()}; `{' '.join(['python', 'benchmarks/scale.py', *sys.argv[1:]])}`, {time.strftime('%Y-%m-%d')}",
        "",
        "| size | checkpoint | parameters | exporter | wall s | peak RSS GiB | fp32 weights GiB | RSS / fp32 weights | target RSS GiB | written GiB | validation s | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        weights = row["params"] * 4 / 1024**3
        validate = "" if row["validate"] is None else f"{row['validate']:.1f}"
        lines.append(
            f"| {row['size']} | {row['dtype']} | {row['params'] / 1e9:.2f}B | {row['exporter']} | {row['seconds']:.1f} | {row['rss']:.2f} | "
            f"{weights:.2f} | {row['rss'] / weights:.2f} | {1.3 * weights + 0.5:.2f} | {row['written'] / 1024**3:.2f} | "
            f"{validate} | {row['status']} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for (exporter, dtype), marker in zip(sorted({(r["exporter"], r["dtype"]) for r in rows}), "osd^v"):
        chosen = sorted((r for r in rows if r["exporter"] == exporter and r["dtype"] == dtype), key=lambda r: r["params"])
        xs = [r["params"] / 1e9 for r in chosen]
        time_axis.plot(xs, [r["seconds"] for r in chosen], marker=marker, label=f"{exporter} ({dtype} checkpoint)")
        memory_axis.plot(xs, [r["rss"] for r in chosen], marker=marker, label=f"{exporter} ({dtype} checkpoint)")
    sizes = sorted({r["params"] / 1e9 for r in rows})
    memory_axis.plot(sizes, [s * 4e9 / 1024**3 for s in sizes], "k--", label="fp32 weight bytes")
    memory_axis.plot(sizes, [1.3 * s * 4e9 / 1024**3 + 0.5 for s in sizes], "k:", label="target 1.3x + 0.5 GiB")
    time_axis.set(xlabel="parameters (billions)", ylabel="wall seconds", title="export time (causal-lm-with-past)")
    memory_axis.set(xlabel="parameters (billions)", ylabel="GiB", title="peak RSS")
    for axis in (time_axis, memory_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
