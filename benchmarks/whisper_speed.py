"""Whisper transcription speed: the runtime's generation over the exported graphs vs PyTorch eager `generate()`.

    python benchmarks/whisper_speed.py [--runs 5] [--new-tokens 64] [--threads 2]

A random Whisper-tiny-shaped model (4 + 4 layers, width 384, 6 heads, vocabulary 51865, 80 mel bins, a 30 s window
of 3000 frames; 38M parameters) is saved, exported with the CLI (`speech2seq-lm-with-past`, fp32 and the
`int8-weight` decoder preset), then every contender transcribes the same 30 s of log-mel features at batch 1 with
greedy search and exactly `--new-tokens` tokens (checked equal to PyTorch fp32 on the warm-up run, for the fp32
export). Tokens/s count the whole call: encoder, prompt and every decoding step. Medians of interleaved runs; the CPU
flags are printed with the results.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process import export_command, measure  # noqa: E402

WHISPER_TINY = dict(
    vocab_size=51865, num_mel_bins=80, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
    decoder_attention_heads=6, d_model=384, encoder_ffn_dim=1536, decoder_ffn_dim=1536, max_source_positions=1500,
    max_target_positions=448, decoder_start_token_id=50257, eos_token_id=50256, pad_token_id=50256,
    begin_suppress_tokens=None, suppress_tokens=None,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from transformers_export.benchmark.machine import machine
    from transformers_export.runtime import OnnxModelForSpeechSeq2Seq

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="whisper-speed-"))
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(**WHISPER_TINY)).eval()
    model.save_pretrained(work / "checkpoint")
    parameters = sum(p.numel() for p in model.parameters()) / 1e6

    exports = {}
    for name, extra in (("fp32", ()), ("int8-weight", ("--quantize", "int8-weight"))):
        out = work / name
        exports[name] = measure(export_command("-m", str(work / "checkpoint"), "--feature", "speech2seq-lm-with-past", *extra, str(out)))
    features = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 80, 3000)).astype(np.float32))
    fixed = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    bf16 = WhisperForConditionalGeneration.from_pretrained(work / "checkpoint", dtype=torch.bfloat16).eval()

    def pytorch(model, dtype):
        def run():
            with torch.no_grad():
                return model.generate(features.to(dtype), **fixed)

        return run

    def onnx(name):
        runtime = OnnxModelForSpeechSeq2Seq.from_pretrained(work / name, threads=args.threads)
        return lambda: runtime.generate(features, **fixed)

    contenders = {
        "PyTorch fp32 eager": pytorch(model, torch.float32),
        "PyTorch bf16 eager": pytorch(bf16, torch.bfloat16),
        "ONNX Runtime fp32 (ours)": onnx("fp32"),
        "ONNX Runtime int8-weight (ours)": onnx("int8-weight"),
    }
    reference = contenders["PyTorch fp32 eager"]().tolist()
    same = contenders["ONNX Runtime fp32 (ours)"]().tolist() == reference
    for name in ("PyTorch bf16 eager", "ONNX Runtime int8-weight (ours)"):
        contenders[name]()  # warm-up
    times = {name: [] for name in contenders}
    for _ in range(args.runs):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    here = machine()
    print(f"{here['cpu']} ({here['cores']} cores), flags: {' '.join(here['flags'])}; {time.strftime('%Y-%m-%d')}")
    print(f"torch {torch.__version__}, {args.threads} threads; Whisper-tiny-shaped, {parameters:.0f}M parameters, random "
          f"weights; batch 1, 30 s of features, {args.new_tokens} new tokens, greedy; median of {args.runs} interleaved runs")
    for name, (seconds, rss) in exports.items():
        print(f"export {name}: {seconds:.1f} s, peak RSS {rss:.0f} MiB")
    print(f"ONNX fp32 tokens equal to PyTorch fp32 generate(): {same}\n")
    fp32 = statistics.median(times["PyTorch fp32 eager"])
    best_eager = min(statistics.median(times[name]) for name in contenders if name.startswith("PyTorch"))
    print("| contender | s per transcription | tokens/s | vs PyTorch fp32 | vs best eager |")
    print("|---|---|---|---|---|")
    for name, samples in times.items():
        seconds = statistics.median(samples)
        print(f"| {name} | {seconds:.3f} | {args.new_tokens / seconds:.1f} | {fp32 / seconds:.2f}× | {best_eager / seconds:.2f}× |")


if __name__ == "__main__":
    main()
