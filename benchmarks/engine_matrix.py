"""Both ONNX engines over the whole registry: how many (architecture, feature) pairs export and validate, and how fast.

    python benchmarks/engine_matrix.py [--only bert,roberta]

This is what picks the default engine: most validated pairs first, then export speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated model types")
    args = parser.parse_args()

    from tiny_models import save_tiny_model

    from transformers_export import ExportError, export_model
    from transformers_export.architectures import all_specs

    only = {name for name in args.only.split(",") if name}
    pairs = [(s.model_type, f) for s in all_specs() for f in s.features if not only or s.model_type in only]
    engines = ("trace", "dynamo")
    passed = {engine: 0 for engine in engines}
    seconds = {engine: [] for engine in engines}
    marks = {}
    failures = []
    with tempfile.TemporaryDirectory() as work:
        for model_type, feature in pairs:
            folder = save_tiny_model(model_type, feature, Path(work) / f"{model_type}-{feature}")
            for engine in engines:
                start = time.perf_counter()
                try:
                    result = export_model(str(folder), Path(work) / f"out-{engine}", feature=feature, engine=engine)
                    ok = result.validation.passed
                    took = result.stage_seconds["trace"]
                except ExportError as error:
                    ok, took = False, time.perf_counter() - start
                    failures.append(f"{engine} {model_type} {feature}: {str(error)[:160]}")
                passed[engine] += ok
                seconds[engine].append(took)
                marks[engine] = "✓" if ok else "✗"
            row = "  ".join(f"{e}={seconds[e][-1]:.2f}s {marks[e]}" for e in engines)
            print(f"{model_type:16s} {feature:24s} {row}", flush=True)
    print("\n| engine | validated pairs | median trace+write s | total trace+write s |\n|---|---|---|---|")
    for engine in engines:
        print(
            f"| {engine} | {passed[engine]}/{len(pairs)} | {statistics.median(seconds[engine]):.2f} | "
            f"{sum(seconds[engine]):.1f} |"
        )
    if failures:
        print("\nfailures:\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
