"""A benchmark's results as a table for people, JSON for scripts and a bar chart (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from ..cli.console import table

BASELINE = "PyTorch eager fp32"


def render(report: dict) -> str:
    machine = report["machine"]
    lines = [
        f"{report['model']} ({report['feature']}), {machine['cpu']}, flags: {' '.join(machine['flags']) or 'none'}, "
        f"threads: {report['threads']}; {report['runs']} interleaved runs after {report['warmup']} warm-up",
        "",
    ]
    rows = []
    for result in report["latency"]:
        rows.append(
            [
                result["contender"],
                f"{result['batch']}×{result['sequence']}",
                f"{result['p50_ms']:.2f}",
                f"{result['p90_ms']:.2f}",
                f"{result['throughput']:.1f}",
                f"{result['speedup']:.2f}×",
                f"{result['memory_mib']:.0f}",
            ]
        )
    lines += table(
        rows,
        ["contender", "batch×seq", "p50 ms", "p90 ms", "items/s", f"vs {BASELINE}", "MiB added"],
        right_aligned=True,
    )
    if report["generation"]:
        lines += [
            "",
            f"generation: {report['generation_tokens']} new tokens after a {report['generation_prompt']}-token "
            "prompt, greedy",
        ]
        rows = [
            [g["contender"], str(g["batch"]), f"{g['tokens_per_second']:.1f}", f"{g['speedup']:.2f}×"]
            for g in report["generation"]
        ]
        lines += table(rows, ["contender", "batch", "tokens/s", f"vs {BASELINE}"], right_aligned=True)
    lines += ["", "MiB added: resident memory the contender added when it was opened and warmed up (weights, arenas)."]
    cosines = report.get("quantized_cosine") or {}
    if cosines:
        lines.append(
            "Quantized variants are raced whatever their validation gave; lowest cosine to PyTorch on the validation "
            "inputs: "
            + ", ".join(f"{name.removeprefix('ONNX Runtime ')} {cosine:.4f}" for name, cosine in cosines.items())
            + " (random-weight checkpoints understate it)."
        )
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from error
    shapes = sorted({(r["batch"], r["sequence"]) for r in report["latency"]})
    contenders = list(dict.fromkeys(r["contender"] for r in report["latency"]))
    figure, axis = plt.subplots(figsize=(1.6 + 1.3 * len(contenders) * len(shapes) / 2, 4))
    width = 0.8 / len(contenders)
    for index, contender in enumerate(contenders):
        values = [
            next(
                (
                    r["speedup"]
                    for r in report["latency"]
                    if r["contender"] == contender and (r["batch"], r["sequence"]) == shape
                ),
                0,
            )
            for shape in shapes
        ]
        axis.bar([s + index * width for s in range(len(shapes))], values, width, label=contender)
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_xticks([s + 0.4 - width / 2 for s in range(len(shapes))], [f"{b}×{n}" for b, n in shapes])
    axis.set_ylabel(f"speed vs {BASELINE} (×)")
    axis.set_title(f"{report['model']} — {report['machine']['cpu']}", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
