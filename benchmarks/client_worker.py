"""One client of an exported folder, timed in its own process (run by client_speed.py; not a benchmark alone).

    python client_worker.py CLIENT FOLDER REQUEST.json

CLIENT: ours (transformers_export.runtime), optimum (ORTModel classes; run with Optimum's Python), genai
(onnxruntime-genai). REQUEST: {"task": "embed" | "generate", "input_ids": [[...]], "new_tokens": N, "runs": R}.
Prints one JSON line: {"load_s", "median_ms", "tokens", "peak_mib"} (tokens: the last generation, for the cross-check). It imports
only the client it runs, so that Optimum's environment (transformers < 4.58) needs nothing of this package.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def ours(folder: str, request: dict):
    import numpy as np

    from transformers_export.runtime import from_pretrained

    model = from_pretrained(folder)
    ids = np.asarray(request["input_ids"], dtype=np.int64)
    mask = np.ones_like(ids)
    if request["task"] == "embed":
        return lambda: model(input_ids=ids, attention_mask=mask)
    n = request["new_tokens"]
    return lambda: np.asarray(model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n)).tolist()


def optimum(folder: str, request: dict):
    import torch
    from optimum import onnxruntime as ort_models

    ids = torch.tensor(request["input_ids"])
    mask = torch.ones_like(ids)
    if request["task"] == "embed":
        model = ort_models.ORTModelForFeatureExtraction.from_pretrained(folder)
        extra = {"token_type_ids": torch.zeros_like(ids)} if "token_type_ids" in model.input_names else {}
        return lambda: model(input_ids=ids, attention_mask=mask, **extra)
    model = ort_models.ORTModelForCausalLM.from_pretrained(folder)
    n = request["new_tokens"]
    return lambda: model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False
    ).tolist()


def genai(folder: str, request: dict):
    import onnxruntime_genai as og

    model = og.Model(folder)
    prompt = request["input_ids"][0]
    length = len(prompt) + request["new_tokens"]

    def generate():
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=length, min_length=length, do_sample=False)
        generator = og.Generator(model, params)
        generator.append_tokens([prompt])
        while not generator.is_done():
            generator.generate_next_token()
        return [[int(token) for token in generator.get_sequence(0)]]

    return generate


def main() -> None:
    client, folder, request_file = sys.argv[1:4]
    with open(request_file) as file:
        request = json.load(file)
    start = time.perf_counter()
    run = {"ours": ours, "optimum": optimum, "genai": genai}[client](folder, request)
    load = time.perf_counter() - start
    result = run()  # warm-up
    times = []
    for _ in range(request["runs"]):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    tokens = result if request["task"] == "generate" else None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this process's own peak, KiB on Linux
    print(
        json.dumps({"load_s": load, "median_ms": statistics.median(times) * 1000, "tokens": tokens, "peak_mib": peak})
    )


if __name__ == "__main__":
    main()
