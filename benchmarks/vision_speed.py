"""Vision: export time and peak RSS (whole CLI process), and ONNX Runtime vs PyTorch eager latency at 224×224.

    python benchmarks/vision_speed.py [--runs 10]

Random ViT-base-shaped (86M) and ResNet-50-shaped (25M) image classifiers; batch 1 and 8; median of interleaved runs
after warm-up.
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


def export(model_dir: Path, out: Path) -> tuple[float, float]:
    return measure(export_command("-m", str(model_dir), "--feature", "image-classification", str(out)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    import onnxruntime
    import torch
    from transformers import AutoConfig, AutoModelForImageClassification

    work = Path(tempfile.mkdtemp(prefix="vision-speed-"))
    models = {
        "ViT-base-shaped": AutoConfig.for_model("vit", image_size=224, patch_size=16, num_labels=1000),
        "ResNet-50-shaped": AutoConfig.for_model(
            "resnet", embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3],
            layer_type="bottleneck", num_labels=1000,
        ),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 224×224; median of {args.runs} runs\n")
    print("| model | params | export s (CLI) | export peak RSS MiB | batch | PyTorch ms | ONNX Runtime ms | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, config in models.items():
        torch.manual_seed(0)
        model = AutoModelForImageClassification.from_config(config).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        model.save_pretrained(work / name)
        seconds, rss = export(work / name, work / f"{name}-onnx")
        session = onnxruntime.InferenceSession(str(work / f"{name}-onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
        for batch in (1, 8):
            pixels = torch.randn(batch, 3, 224, 224)
            torch_times, onnx_times = [], []
            with torch.inference_mode():
                for run in range(args.runs + 2):
                    start = time.perf_counter()
                    model(pixel_values=pixels)
                    torch_seconds = time.perf_counter() - start
                    start = time.perf_counter()
                    session.run(None, {"pixel_values": pixels.numpy()})
                    if run >= 2:
                        torch_times.append(torch_seconds)
                        onnx_times.append(time.perf_counter() - start)
            t, o = statistics.median(torch_times) * 1e3, statistics.median(onnx_times) * 1e3
            print(f"| {name} | {params:.0f}M | {seconds:.1f} | {rss:.0f} | {batch} | {t:.1f} | {o:.1f} | {t / o:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
