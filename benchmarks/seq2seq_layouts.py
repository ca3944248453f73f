"""One decoding step of an encoder-decoder export: the generation layout's decoder vs the seed's single graph.

    python benchmarks/seq2seq_layouts.py [--runs 20] [--source 64] [--past 32]

A ~60M-parameter random T5-shaped model is exported twice with the CLI (`seq2seq-lm-with-past`, `--layout generation`
and `--layout monolith`). Both files then run the same decoding step in ONNX Runtime (same source, same cross-attention
and self-attention caches; outputs checked equal): the decoder graph takes the cross-attention cache and nothing else
from the encoder side, the single graph also takes `input_ids` and runs the encoder again. Medians of interleaved runs.
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
    for layout in ("generation", "monolith"):
        exports[layout] = measure(
            export_command("-m", str(work / "t5"), "--feature", "seq2seq-lm-with-past", "--layout", layout, str(work / layout))
        )
    generation = OnnxEncoderDecoder(work / "generation")
    monolith = onnxruntime.InferenceSession(str(work / "monolith" / "model.onnx"), providers=["CPUExecutionProvider"])
    monolith_inputs = {graph_input.name for graph_input in monolith.get_inputs()}

    print(f"onnxruntime {onnxruntime.__version__}; T5-shaped {params:.0f}M, "
          f"source {args.source}, past {args.past}, one new token; median of {args.runs} interleaved runs\n")
    for layout, (seconds, rss) in exports.items():
        print(f"export --layout {layout}: {seconds:.1f} s, peak RSS {rss:.0f} MiB")
    print("\n| batch | generation layout decoder step ms | single graph step ms | single graph / generation |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in (1, 4):
        source = rng.integers(2, config.vocab_size, (batch, args.source))
        mask = np.ones_like(source)
        cross = generation.encode(source, mask)
        past = {
            name: rng.standard_normal((batch, heads, args.past, dim)).astype(np.float32)
            for name, (heads, dim) in generation.self_past_dims.items()
        }
        step_ids = rng.integers(2, config.vocab_size, (batch, 1))
        generation_feed = generation.feed(step_ids, mask, cross, past)
        monolith_feed = {
            "input_ids": source, "attention_mask": mask, "decoder_input_ids": step_ids,
            "decoder_attention_mask": np.ones((batch, args.past + 1), dtype=np.int64), **cross, **past,
        }
        monolith_feed = {name: value for name, value in monolith_feed.items() if name in monolith_inputs}
        times = {"generation": [], "monolith": []}
        for run in range(args.runs + 1):
            start = time.perf_counter()
            generation_out = generation.run(generation_feed)
            generation_seconds = time.perf_counter() - start
            start = time.perf_counter()
            monolith_out = dict(zip([o.name for o in monolith.get_outputs()], monolith.run(None, monolith_feed)))
            monolith_seconds = time.perf_counter() - start
            if run == 0:
                np.testing.assert_allclose(monolith_out["logits"], generation_out["logits"], atol=1e-4)
                for name, value in presents_as_past(generation_out).items():
                    np.testing.assert_allclose(presents_as_past(monolith_out)[name], value, atol=1e-4)
                continue
            times["generation"].append(generation_seconds)
            times["monolith"].append(monolith_seconds)
        g, m = (statistics.median(times[layout]) * 1000 for layout in ("generation", "monolith"))
        print(f"| {batch} | {g:.2f} | {m:.2f} | {m / g:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
