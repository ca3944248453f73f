"""One decoding step of an encoder-decoder export in each layout: the generation layout's decoder, the merged
layout's decoder (Transformers.js' and Optimum's contract) and the seed's single graph; and whole greedy generations
with the two layouts that generate on their own.

    python benchmarks/seq2seq_layouts.py [--runs 20] [--source 64] [--past 32] [--new-tokens 32]

A ~60M-parameter random T5-shaped model is exported three times with the CLI (`seq2seq-lm-with-past`, `--layout
generation`, `--layout merged`, `--layout monolith`). The files then run the same later decoding step in ONNX Runtime
(same source, same cross-attention and self-attention caches; outputs checked equal): the generation decoder takes the
cross-attention cache; the merged decoder also takes the encoder states, projects two of their rows again and returns
the cross-attention cache; the single graph also takes `input_ids` and runs the encoder again. Then our runtime
generates `--new-tokens` greedy tokens from the same source with the generation and merged folders (encoder and first
step included; tokens checked equal). Medians of interleaved runs; folder sizes on disk.
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

T5_SHAPED = dict(vocab_size=32128, d_model=512, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8, d_kv=64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--source", type=int, default=64, help="encoder sequence length")
    parser.add_argument("--past", type=int, default=32, help="decoder tokens already generated")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens of the whole generations")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    from transformers_export.runtime import OnnxEncoderDecoder
    from transformers_export.runtime.decoder import presents_as_past

    work = Path(tempfile.mkdtemp(prefix="seq2seq-layouts-"))
    torch.manual_seed(0)
    config = AutoConfig.for_model("t5", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **T5_SHAPED)
    model = AutoModelForSeq2SeqLM.from_config(config)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    model.save_pretrained(work / "t5")
    del model
    exports = {}
    for layout in ("generation", "merged", "monolith"):
        exports[layout] = measure(
            export_command(
                "-m", str(work / "t5"), "--feature", "seq2seq-lm-with-past", "--layout", layout, str(work / layout)
            )
        )
    generation = OnnxEncoderDecoder(work / "generation")
    merged = OnnxEncoderDecoder(work / "merged")
    monolith = onnxruntime.InferenceSession(str(work / "monolith" / "model.onnx"), providers=["CPUExecutionProvider"])
    monolith_inputs = {graph_input.name for graph_input in monolith.get_inputs()}

    print(
        f"onnxruntime {onnxruntime.__version__}; T5-shaped {params:.0f}M, "
        f"source {args.source}, past {args.past}, one new token; median of {args.runs} interleaved runs\n"
    )
    for layout, (seconds, rss) in exports.items():
        size = sum(f.stat().st_size for f in (work / layout).iterdir() if f.suffix in (".onnx", ".data")) / 2**20
        print(f"export --layout {layout}: {seconds:.1f} s, peak RSS {rss:.0f} MiB, graphs and weights {size:.1f} MiB")
    print(
        "\n| batch | generation decoder step ms | merged decoder step ms | merged / generation | single graph step ms "
        "| single graph / generation |"
    )
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in (1, 4):
        source = rng.integers(2, config.vocab_size, (batch, args.source))
        mask = np.ones_like(source)
        cross = generation.encode(source, mask)
        past = {
            name: rng.standard_normal((batch, heads, args.past, dim)).astype(np.float32)
            for name, (heads, dim) in generation.empty_past_dims.items()
        }
        step_ids = rng.integers(2, config.vocab_size, (batch, 1))
        generation_feed = generation.feed(step_ids, mask, cross, past)
        merged_feed = merged.feed(step_ids, mask, merged.encode(source, mask), {**past, **cross})
        monolith_feed = {
            "input_ids": source,
            "attention_mask": mask,
            "decoder_input_ids": step_ids,
            "decoder_attention_mask": np.ones((batch, args.past + 1), dtype=np.int64),
            **cross,
            **past,
        }
        monolith_feed = {name: value for name, value in monolith_feed.items() if name in monolith_inputs}
        times = {"generation": [], "merged": [], "monolith": []}
        for run in range(args.runs + 1):
            start = time.perf_counter()
            generation_out = generation.run(generation_feed)
            generation_seconds = time.perf_counter() - start
            start = time.perf_counter()
            merged_out = merged.run(merged_feed)
            merged_seconds = time.perf_counter() - start
            start = time.perf_counter()
            monolith_out = dict(zip([o.name for o in monolith.get_outputs()], monolith.run(None, monolith_feed)))
            monolith_seconds = time.perf_counter() - start
            if run == 0:
                np.testing.assert_allclose(monolith_out["logits"], generation_out["logits"], atol=1e-4)
                np.testing.assert_allclose(merged_out["logits"], generation_out["logits"], atol=1e-4)
                for name, value in presents_as_past(generation_out).items():
                    np.testing.assert_allclose(presents_as_past(monolith_out)[name], value, atol=1e-4)
                continue
            times["generation"].append(generation_seconds)
            times["merged"].append(merged_seconds)
            times["monolith"].append(monolith_seconds)
        g, d, m = (statistics.median(times[layout]) * 1000 for layout in ("generation", "merged", "monolith"))
        print(f"| {batch} | {g:.2f} | {d:.2f} | {d / g:.2f}× | {m:.2f} | {m / g:.2f}× |", flush=True)
    generate_both(work, config, args, rng)


def generate_both(work: Path, config, args, rng) -> None:
    """Whole greedy generations through our runtime, encoder and first step included, with each generating layout."""
    import numpy as np

    from transformers_export.runtime import from_pretrained

    models = {layout: from_pretrained(work / layout) for layout in ("generation", "merged")}
    print(f"\n| batch | generation: {args.new_tokens} tokens ms | merged ms | merged / generation |")
    print("|---|---|---|---|")
    for batch in (1, 4):
        source = rng.integers(2, config.vocab_size, (batch, args.source))
        times = {layout: [] for layout in models}
        tokens = {}
        for run in range(max(3, args.runs // 4) + 1):
            for layout, model in models.items():
                start = time.perf_counter()
                tokens[layout] = np.asarray(
                    model.generate(source, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
                )
                if run:
                    times[layout].append(time.perf_counter() - start)
        assert tokens["generation"].tolist() == tokens["merged"].tolist()
        g, d = (statistics.median(times[layout]) * 1000 for layout in models)
        print(f"| {batch} | {g:.1f} | {d:.1f} | {d / g:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
