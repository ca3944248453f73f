"""`--dtype fp16` for every architecture of the matrix (its first feature): the graph loads in ONNX Runtime, holds no
float32 weight, and matches the fp16 PyTorch model within the fp16 tolerances."""

import onnx
import pytest

from transformers_export import export_model
from transformers_export.architectures import all_specs
from transformers_export.errors import ValidationError

FIRST_FEATURES = [(spec.model_type, spec.features[0]) for spec in all_specs() if spec.features]
# PyTorch's own fp16 forward gives NaN for these (T5-style layers without the fp16 clamp): the export is refused
OVERFLOWS_IN_FP16 = {"longt5"}


@pytest.mark.parametrize("model_type,feature", FIRST_FEATURES, ids=[f"{m}-{f}" for m, f in FIRST_FEATURES])
def test_fp16_graph_loads_and_validates(model_type, feature, tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(model_type, feature)
    if model_type in OVERFLOWS_IN_FP16:
        with pytest.raises(ValidationError, match="PyTorch's own output '.*' holds NaN or infinity .* export in fp32"):
            export_model(str(folder), tmp_path / "out", feature=feature, dtype="fp16")
        assert not (tmp_path / "out").exists()
        return
    result = export_model(str(folder), tmp_path / "out", feature=feature, dtype="fp16")
    assert result.validation.passed
    for name in result.manifest["graphs"]:
        graph = onnx.load(str(tmp_path / "out" / name), load_external_data=False).graph
        widened = [i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT and "weight" in i.name]
        assert not widened, f"{name} has float32 weights: {widened[:5]}"


def test_an_fp16_graph_runs_in_memory_near_its_weights(tmp_path):
    """ONNX Runtime's CPU kernels widen each fp16 weight to float32 as it is used; by default its arena keeps every
    widened copy and its highest level folds them into the graph (2-3x the weights, 11 GiB for a 3.5 GB graph).
    The runtime (and validation, which opens graphs the same way) keeps it near the fp16 weights. Measured in a fresh
    process: a test worker that ran hundreds of exports holds freed memory that blurs a 64 MiB difference."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    grown, weights_bytes = map(int, done.stdout.split())
    assert grown < 1.6 * weights_bytes, (
        f"{grown / 2**20:.0f} MiB resident for {weights_bytes / 2**20:.0f} MiB of weights"
    )


_MEASURE = """
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from transformers_export.runtime.session import open_session


def resident_bytes():
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def write_stack(folder, size, layers):
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array((rng.standard_normal((size, size)) * 0.02).astype(np.float16), f"w{i}")
               for i in range(layers)]
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", f"w{i}"], [f"h{i + 1}"]) for i in range(layers)]
    graph = helper.make_graph(nodes, "stack", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", size])],
                              [helper.make_tensor_value_info(f"h{layers}", TensorProto.FLOAT16, ["batch", size])],
                              weights)
    folder.mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "model.onnx"),
              save_as_external_data=True, location="model.onnx.data")


def open_and_run(folder, size):
    session = open_session(folder / "model.onnx")
    for _ in range(3):
        session.run(None, {"x": np.ones((4, size), dtype=np.float16)})
    return session


root = Path(sys.argv[1])
size, layers = 2048, 8  # 64 MiB of fp16 weights, 128 MiB widened
write_stack(root / "warm", 64, 1)
write_stack(root / "stack", size, layers)
# the first session of a process starts ONNX Runtime's thread pools and allocators (~40 MiB, whatever the graph)
warm = open_and_run(root / "warm", 64)
before = resident_bytes()
session = open_and_run(root / "stack", size)
print(resident_bytes() - before, layers * size * size * 2)
"""
