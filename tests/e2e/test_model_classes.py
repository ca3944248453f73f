"""Each `OnnxModelFor*` class against the PyTorch model: same outputs, transformers' output class, options passed on."""

import numpy as np
import pytest
import torch

from transformers_export import export_model
from transformers_export.runtime import (
    OnnxModelForCausalLM,
    OnnxModelForFeatureExtraction,
    OnnxModelForMaskedImageModeling,
    OnnxModelForMultipleChoice,
    OnnxModelForQuestionAnswering,
    OnnxModelForSeq2SeqLM,
    OnnxModelForSequenceClassification,
    from_pretrained,
)

TEXT = {"input_ids": torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, 13, 0]]), "attention_mask": torch.tensor([[1] * 5, [1, 1, 1, 1, 0]])}
CASES = [
    ("bert", "default", TEXT, OnnxModelForFeatureExtraction),
    ("bert", "question-answering", TEXT, OnnxModelForQuestionAnswering),
    ("roberta", "sequence-classification", TEXT, OnnxModelForSequenceClassification),
    ("bert", "multiple-choice", {name: value[:, None].repeat(1, 3, 1) for name, value in TEXT.items()}, OnnxModelForMultipleChoice),
    ("vit", "masked-im", {"pixel_values": torch.rand(2, 3, 32, 32)}, OnnxModelForMaskedImageModeling),
    ("gpt2", "causal-lm", TEXT, OnnxModelForCausalLM),
    ("llama", "causal-lm-with-past", TEXT, OnnxModelForCausalLM),
    ("bart", "seq2seq-lm-with-past", {**TEXT, "decoder_input_ids": torch.tensor([[2, 5, 6], [2, 7, 8]])}, OnnxModelForSeq2SeqLM),
    ("t5", "seq2seq-lm", {**TEXT, "decoder_input_ids": torch.tensor([[0, 5, 6], [0, 7, 8]])}, OnnxModelForSeq2SeqLM),
]


def _torch_model(checkpoint, feature):
    import transformers

    from transformers_export.tasks import auto_class, get_task

    config = transformers.AutoConfig.from_pretrained(checkpoint)
    return getattr(transformers, config.architectures[0], None) or auto_class(get_task(feature))


@pytest.mark.parametrize("model_type,feature,inputs,model_class", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_model_class_matches_pytorch(model_type, feature, inputs, model_class, tiny_checkpoint, tmp_path):
    checkpoint = tiny_checkpoint(model_type, feature.replace("-with-past", ""))
    export_model(str(checkpoint), tmp_path / "onnx", feature=feature)
    torch_model = _torch_model(checkpoint, feature).from_pretrained(checkpoint).eval()
    onnx_model = model_class.from_pretrained(tmp_path / "onnx", threads=1)
    assert type(from_pretrained(tmp_path / "onnx")) is model_class, "export.json's feature picks the class"
    with torch.no_grad():
        expected = torch_model(**inputs)
    got = onnx_model(**inputs)
    assert type(got).__name__ in {type(expected).__name__, *onnx_model.output_classes}
    # the caches differ in kind (a Cache object and per-layer tuples): test_model_class_parity.py runs them
    compared = [name for name in got.keys() if name in expected.keys() and name not in ("cache", "past_key_values")]
    assert compared, "no output in common, or this test compares nothing"
    mask = inputs.get("attention_mask")
    for name in compared:
        assert isinstance(got[name], torch.Tensor)
        a, b = got[name].numpy(), expected[name].numpy()
        if mask is not None and a.shape[:2] == tuple(mask.shape):  # what a padded position gets is not a contract
            a, b = a[mask.numpy() == 1], b[mask.numpy() == 1]
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4, err_msg=name)
    as_numpy = onnx_model(**{name: value.numpy() for name, value in inputs.items()})
    assert isinstance(as_numpy[compared[0]], np.ndarray)
    assert onnx_model.config.model_type == torch_model.config.model_type and str(onnx_model.device) == "cpu"


def test_options_reach_onnx_runtime(tiny_checkpoint, tmp_path):
    import onnxruntime

    export_model(str(tiny_checkpoint("bert", "sequence-classification")), tmp_path / "onnx", feature="sequence-classification")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    model = OnnxModelForSequenceClassification.from_pretrained(tmp_path / "onnx", provider="CPUExecutionProvider", session_options=options)
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    assert model.session.get_session_options().graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert OnnxModelForSequenceClassification.from_pretrained(tmp_path / "onnx", threads=1).session.get_session_options().intra_op_num_threads == 1
    with pytest.raises(ValueError, match="provider 'NoSuchExecutionProvider' is not available"):
        OnnxModelForSequenceClassification.from_pretrained(tmp_path / "onnx", provider="NoSuchExecutionProvider")
    with pytest.raises(ValueError, match="pass threads or session_options, not both"):
        OnnxModelForSequenceClassification.from_pretrained(tmp_path / "onnx", session_options=options, threads=2)
    with pytest.raises(ValueError, match="with OnnxModelForSequenceClassification, not OnnxModelForCausalLM, or export the "
                       "checkpoint again with --feature causal-lm"):  # fmt: skip
        OnnxModelForCausalLM.from_pretrained(tmp_path / "onnx")
    with pytest.raises(ValueError, match="missing input.s. input_ids; the graph takes: input_ids, attention_mask, token_type_ids"):
        model(input_id=TEXT["input_ids"])  # a typo: BERT's forward takes **kwargs, so only the missing input is caught
    with pytest.raises(ValueError, match="choose its device with provider="):
        model.to("cuda")


def test_torch_formats_are_pointed_elsewhere(tiny_checkpoint, tmp_path):
    export_model(str(tiny_checkpoint("bert", "default")), tmp_path / "pt", format="torchscript")
    with pytest.raises(ValueError, match="holds a torchscript export"):
        from_pretrained(tmp_path / "pt")
