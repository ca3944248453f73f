"""Every registered (architecture, feature): tiny random model -> export -> run in ONNX Runtime on fresh shapes."""

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from transformers_export import export_model
from transformers_export.architectures import all_specs
from transformers_export.formats.exportable import named_outputs
from transformers_export.resolve.loading import load_model

PAIRS = [(spec.model_type, feature) for spec in all_specs() for feature in spec.features]
# encoder-decoder features with a cache default to the generation layout; the seed's single graph is tested too
SINGLE_GRAPH_WITH_CACHE = [
    (spec.model_type, feature)
    for spec in all_specs()
    for feature in spec.features
    if spec.is_seq2seq and feature.startswith(("seq2seq-lm", "default")) and feature.endswith("-with-past")
]
CASES = [(*pair, None) for pair in PAIRS] + [(*pair, "monolith") for pair in SINGLE_GRAPH_WITH_CACHE]


def run_onnx_against_pytorch(model, output_dir, feature, sizes):
    """Our own comparison (not the library's validator) on a shape neither the trace nor the validator used."""
    from transformers_export.features import FeaturesManager

    onnx_config = FeaturesManager.get_config(model.config.model_type, feature)(model.config)
    onnx_config.bind_model(model)
    inputs = onnx_config.generate_dummy_inputs(None, **sizes)
    session = onnxruntime.InferenceSession(str(output_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {i.name: inputs[i.name].numpy() for i in session.get_inputs()}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    with torch.no_grad(), onnx_config.patched(model):
        expected = named_outputs(model(**onnx_config.model_inputs(inputs, model)), list(onnx_config.outputs), onnx_config)
    assert list(got) == list(expected)
    for name, reference in expected.items():
        assert got[name].shape == tuple(reference.shape), name
        np.testing.assert_allclose(got[name], reference.numpy(), atol=onnx_config.atol_for_validation * 10, rtol=1e-4)


@pytest.mark.parametrize(
    "model_type,feature,layout", CASES, ids=[f"{m}-{f}" + (f"-{layout}" if layout else "") for m, f, layout in CASES]
)
def test_export_runs_on_fresh_shapes(model_type, feature, layout, tiny_checkpoint, tmp_path):
    folder = tiny_checkpoint(model_type, feature)
    result = export_model(str(folder), tmp_path / "out", feature=feature, layout=layout)
    assert result.validation.passed
    if result.layout == "generation":
        check_generation_layout(folder, tmp_path / "out", feature, result)
        return
    if result.layout == "vision-language":  # three graphs at two fresh shapes each, then the decoder's decode
        assert len([run for run in result.validation.runs if "step" not in run.sizes]) == 6
        assert len([run for run in result.validation.runs if "step" in run.sizes]) == 4
        return
    assert len([run for run in result.validation.runs if "step" not in run.sizes]) == 2
    graph = onnx.load(str(tmp_path / "out" / "model.onnx"), load_external_data=False).graph
    for graph_input in graph.input:
        dims = graph_input.type.tensor_type.shape.dim
        assert dims[0].dim_param.endswith("batch"), f"{graph_input.name} has a fixed batch axis"
    sizes = dict(batch_size=4, seq_length=7, num_choices=2, past_length=3, decoder_length=2)
    # the test's one PyTorch model for both of its checks (the export loaded, and released, its own)
    model = load_model(str(folder), feature).eval()  # as exported: an encoder's LM head as a decoder
    run_onnx_against_pytorch(model, tmp_path / "out", feature, sizes)
    if feature.endswith("-with-past"):
        steps = [run.sizes for run in result.validation.runs if "step" in run.sizes]
        first_past = steps[0].get("past_sequence", steps[0].get("past_decoder_sequence"))
        assert first_past == 0 and len(steps) == 4, "the decode run must start from an empty past"
    if feature == "causal-lm-with-past":
        assert_greedy_generation_matches(model, tmp_path / "out")


def check_generation_layout(folder, output_dir, feature, result):
    files = {path.name for path in output_dir.iterdir()}
    assert {"encoder_model.onnx", "decoder_model.onnx", "model.onnx.data"} <= files and "model.onnx" not in files
    steps = [run.sizes for run in result.validation.runs if "step" in run.sizes]
    assert len(steps) == 4 and steps[0]["past_decoder_sequence"] == 0
    # weights stored once: some tensor (the shared embedding at least) is referenced by both graphs at one offset
    import onnx
    from onnx.external_data_helper import uses_external_data

    def locations(name):
        graph = onnx.load(str(output_dir / name), load_external_data=False).graph
        return {
            tuple(entry.value for entry in tensor.external_data if entry.key in ("offset", "length"))
            for tensor in graph.initializer
            if uses_external_data(tensor)
        }

    if feature.startswith("seq2seq"):  # text encoder-decoders share their token embedding between the graphs
        assert locations("encoder_model.onnx") & locations("decoder_model.onnx")
    if feature == "seq2seq-lm-with-past":
        assert_seq2seq_generation_matches(folder, output_dir)


def assert_seq2seq_generation_matches(folder, output_dir):
    """Encoder + decoder files in ONNX Runtime, no PyTorch, give generate()'s tokens: batch 2, padding, 20 tokens."""
    from transformers import AutoModelForSeq2SeqLM

    from transformers_export.runtime import OnnxModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    pad, eos = model.config.pad_token_id, model.config.eos_token_id
    source = np.array([[5, 6, 7, 8, eos, pad, pad], [9, 10, 11, 12, 13, 14, eos]])
    mask = (np.arange(7)[None, :] < np.array([[5], [7]])).astype(np.int64)
    got = OnnxModelForSeq2SeqLM(output_dir).generate(source, mask, max_new_tokens=20)
    with torch.no_grad():
        expected = model.generate(
            input_ids=torch.from_numpy(source), attention_mask=torch.from_numpy(mask), do_sample=False, max_new_tokens=20
        ).numpy()
    assert got.tolist() == expected.tolist()


def assert_greedy_generation_matches(model, output_dir):
    """The package's ONNX Runtime loop, without PyTorch, gives generate()'s tokens: batch 2, left padding, 20 tokens."""
    from transformers_export.runtime import OnnxModelForCausalLM

    pad = model.config.pad_token_id
    prompt = np.array([[pad, pad, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    mask = (prompt != pad).astype(np.int64)
    got = OnnxModelForCausalLM(output_dir).generate(prompt, mask, max_new_tokens=20)
    with torch.no_grad():
        expected = model.generate(
            input_ids=torch.from_numpy(prompt), attention_mask=torch.from_numpy(mask), do_sample=False,
            max_new_tokens=20, pad_token_id=pad,
        ).numpy()
    assert got.tolist() == expected.tolist()
