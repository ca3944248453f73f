"""Generation speed: the package's ONNX Runtime loop vs PyTorch eager `generate()`, side by side.

    python benchmarks/generate_speed.py [--runs 5] [--new-tokens 64] [--num-beams 1] [--only T5-shaped,...]

Greedy by default; `--num-beams N` runs beam search on both sides.

Random models: a ~100M-parameter Llama-shaped decoder (12 layers, hidden 768, 12 heads / 4 KV heads, vocab 32000,
tied embeddings) and ~60M T5- and BART-shaped encoder-decoders. Each is saved, exported with the CLI (`-with-past`;
wall time and peak RSS of that process are reported), then both generate the same tokens from the same prompts
(checked on the warm-up run). Medians of interleaved runs.
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


def export(model_dir: Path, out: Path, feature: str) -> tuple[float, float]:
    return measure(export_command("-m", str(model_dir), "--feature", feature, str(out)))


MODELS = {
    # name: (model type, Auto class, config overrides)
    "Llama-shaped": ("llama", "AutoModelForCausalLM", dict(
        vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
        intermediate_size=2048, max_position_embeddings=512, tie_word_embeddings=True,
    )),
    "T5-shaped": ("t5", "AutoModelForSeq2SeqLM", dict(
        vocab_size=32128, d_model=512, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8, d_kv=64,
    )),
    "BART-shaped": ("bart", "AutoModelForSeq2SeqLM", dict(
        vocab_size=32000, d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
        decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, max_position_embeddings=512,
    )),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated names from: " + ", ".join(MODELS))
    args = parser.parse_args()

    import numpy as np
    import torch
    import transformers
    from transformers import AutoConfig

    from transformers_export.runtime import OnnxModelForCausalLM, OnnxModelForSeq2SeqLM

    work = Path(tempfile.mkdtemp(prefix="generate-speed-"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {'greedy' if args.num_beams == 1 else f'{args.num_beams} beams'}, {args.new_tokens} new tokens, "
          f"prompt {args.prompt}, median of {args.runs} interleaved runs after one warm-up\n")
    print("| model | params | export s (CLI) | export peak RSS MiB | batch | PyTorch tokens/s | ONNX Runtime tokens/s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (model_type, auto_class, overrides) in MODELS.items():
        if args.only and name not in args.only.split(","):
            continue
        config = AutoConfig.for_model(model_type, pad_token_id=0, bos_token_id=1, eos_token_id=None, **overrides)
        torch.manual_seed(0)
        model = getattr(transformers, auto_class).from_config(config).eval()
        model.generation_config.eos_token_id = None
        model.generation_config.forced_eos_token_id = None
        seq2seq = auto_class == "AutoModelForSeq2SeqLM"
        feature = "seq2seq-lm-with-past" if seq2seq else "causal-lm-with-past"
        params = sum(p.numel() for p in model.parameters()) / 1e6
        model.save_pretrained(work / name)
        export_seconds, export_rss = export(work / name, work / f"{name}-onnx", feature)
        onnx_model = (OnnxModelForSeq2SeqLM if seq2seq else OnnxModelForCausalLM)(work / f"{name}-onnx")
        rng = np.random.default_rng(0)
        for batch in (1, 4):
            prompt = rng.integers(3, config.vocab_size, (batch, args.prompt))
            mask = np.ones_like(prompt)
            if batch > 1:
                mask[0, :4] = 0
                if seq2seq:
                    mask[0] = mask[0][::-1].copy()  # encoders are padded on the right
                prompt[mask == 0] = 0
            torch_times, onnx_times = [], []
            for run in range(args.runs + 1):
                start = time.perf_counter()
                with torch.inference_mode():
                    expected = model.generate(
                        input_ids=torch.from_numpy(prompt), attention_mask=torch.from_numpy(mask), do_sample=False,
                        max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, pad_token_id=0,
                        num_beams=args.num_beams,
                    )
                torch_seconds = time.perf_counter() - start
                start = time.perf_counter()
                got = onnx_model.generate(prompt, mask, max_new_tokens=args.new_tokens, num_beams=args.num_beams)
                onnx_seconds = time.perf_counter() - start
                if run == 0:
                    assert got.tolist() == expected.tolist(), f"{name}: ONNX Runtime and PyTorch generated different tokens"
                    continue
                torch_times.append(torch_seconds)
                onnx_times.append(onnx_seconds)
            tokens = batch * args.new_tokens
            t, o = tokens / statistics.median(torch_times), tokens / statistics.median(onnx_times)
            print(f"| {name} | {params:.0f}M | {export_seconds:.1f} | {export_rss:.0f} | {batch} | {t:.1f} | {o:.1f} | {o / t:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
