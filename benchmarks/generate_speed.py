"""Greedy generation speed: the package's ONNX Runtime loop vs PyTorch eager `generate()`, side by side.

    python benchmarks/generate_speed.py [--runs 5] [--new-tokens 64]

A ~100M-parameter random Llama-shaped model (12 layers, hidden 768, 12 heads / 4 KV heads, vocab 32000, tied
embeddings) is saved, exported with the CLI (`causal-lm-with-past`; wall time and peak RSS of that process are
reported), then both generate the same number of tokens from the same prompts. Medians of interleaved runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def export(model_dir: Path, out: Path) -> tuple[float, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "transformers_export", "-m", str(model_dir), "--feature", "causal-lm-with-past", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(process.stderr.read().decode())
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt", type=int, default=16)
    args = parser.parse_args()

    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from transformers_export.runtime import OnnxModelForCausalLM

    work = Path(tempfile.mkdtemp(prefix="generate-speed-"))
    config = AutoConfig.for_model(
        "llama", vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        num_key_value_heads=4, intermediate_size=2048, max_position_embeddings=512, tie_word_embeddings=True,
        pad_token_id=0, bos_token_id=1, eos_token_id=None,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    model.generation_config.eos_token_id = None
    params = sum(p.numel() for p in model.parameters()) / 1e6
    model.save_pretrained(work / "llama")
    export_seconds, export_rss = export(work / "llama", work / "onnx")
    onnx_model = OnnxModelForCausalLM(work / "onnx")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {params:.0f}M parameters")
    print(f"export (CLI, causal-lm-with-past, with validation): {export_seconds:.1f} s wall, peak RSS {export_rss:.0f} MiB\n")
    print("| batch | new tokens | PyTorch eager tokens/s | ONNX Runtime loop tokens/s | speed-up |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in (1, 4):
        prompt = rng.integers(3, 32000, (batch, args.prompt))
        mask = np.ones_like(prompt)
        if batch > 1:
            mask[0, :4] = 0
            prompt[0, :4] = 0
        torch_prompt, torch_mask = torch.from_numpy(prompt), torch.from_numpy(mask)
        torch_times, onnx_times = [], []
        for run in range(args.runs + 1):  # the first round warms both up and is not counted
            start = time.perf_counter()
            with torch.inference_mode():
                expected = model.generate(
                    input_ids=torch_prompt, attention_mask=torch_mask, do_sample=False,
                    max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, pad_token_id=0,
                )
            torch_seconds = time.perf_counter() - start
            start = time.perf_counter()
            got = onnx_model.generate(prompt, mask, max_new_tokens=args.new_tokens)
            onnx_seconds = time.perf_counter() - start
            if run == 0:
                assert got.tolist() == expected.tolist(), "ONNX Runtime and PyTorch generated different tokens"
                continue
            torch_times.append(torch_seconds)
            onnx_times.append(onnx_seconds)
        tokens = batch * args.new_tokens
        t, o = tokens / statistics.median(torch_times), tokens / statistics.median(onnx_times)
        print(f"| {batch} | {args.new_tokens} | {t:.1f} | {o:.1f} | {o / t:.2f}× |")


if __name__ == "__main__":
    main()
