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
