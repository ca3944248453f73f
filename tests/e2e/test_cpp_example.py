"""examples/cpp: build the C++ program against the torch wheel's libtorch and run the packaged MiniLM export."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cpp"


def test_cpp_example_runs_the_minilm_torchscript_export(minilm_path, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "ts"
    export = subprocess.run(
        [sys.executable, "-m", "transformers_export", "-m", str(minilm_path), "--format", "torchscript", str(out)],
        capture_output=True, text=True,
    )
    assert export.returncode == 0, export.stderr

    build = tmp_path / "build"
    configure = ["cmake", "-S", str(EXAMPLE), "-B", str(build), f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"]
    for command in (configure, ["cmake", "--build", str(build), "-j", "2"]):
        step = subprocess.run(command, capture_output=True, text=True)
        assert step.returncode == 0, step.stdout[-2000:] + step.stderr[-2000:]

    tokenizer = AutoTokenizer.from_pretrained(out)
    batch = tokenizer(["Hello from C++!", "TorchScript runs without Python."], padding=True, return_tensors="pt")
    rows = [batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]]
    args = [str(build / "run_model"), str(out / "model.pt"), str(batch["input_ids"].shape[1])]
    for i, tensor in enumerate(rows):
        args += (["--"] if i else []) + [str(v) for v in tensor.flatten().tolist()]
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr

    shape, *values = run.stdout.splitlines()[0].split()
    got = np.array(values, dtype=np.float32).reshape([int(d) for d in shape.split("x")])
    model = AutoModel.from_pretrained(minilm_path).eval()
    with torch.no_grad():
        expected = model(**batch).last_hidden_state.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
