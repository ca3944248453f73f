"""onnxruntime-genai runs `causal-lm-with-past` exports as written (their genai_config.json), with PyTorch's greedy
tokens; a graph it cannot run gets no config and a one-line reason."""

import json

import pytest
import torch

from transformers_export import export_model

og = pytest.importorskip("onnxruntime_genai", reason="pip install onnxruntime-genai (in the [test] extra)")

PROMPT = [5, 6, 7, 8, 9, 10]
FAMILIES = ["llama", "qwen2", "mistral", "phi3", "gemma", "gpt2"]


def _genai_tokens(folder, new_tokens, prompt=PROMPT):
    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(prompt) + new_tokens, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens([prompt])
    while not generator.is_done():
        generator.generate_next_token()
    return [int(token) for token in generator.get_sequence(0)]


def _pytorch_tokens(checkpoint, new_tokens, prompt=PROMPT):
    from transformers import AutoModelForCausalLM

    with torch.no_grad():
        model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
        return model.generate(torch.tensor([prompt]), max_new_tokens=new_tokens, do_sample=False)[0].tolist()


@pytest.mark.parametrize("model_type", FAMILIES)
def test_genai_generates_pytorchs_tokens_from_the_export(model_type, tiny_checkpoint, tmp_path):
    checkpoint = tiny_checkpoint(model_type, "causal-lm")
    result = export_model(str(checkpoint), tmp_path / "out", feature="causal-lm-with-past")
    assert "genai_config.json" in result.manifest["files"]
    # a prompt the random model does not end at once (genai stops at the end token and leaves it out)
    prompt = next(
        p
        for p in ([5, 6, 7, 8, 9, 10], [11, 3, 17], [20, 21], [2, 40, 9, 33])
        if len(_pytorch_tokens(checkpoint, 8, p)) > len(p) + 4
    )
    expected = _pytorch_tokens(checkpoint, 8, prompt)
    got = _genai_tokens(tmp_path / "out", 8, prompt)
    assert got == expected[: len(got)] and len(got) >= len(prompt) + 4


def test_genai_runs_the_int4_export_it_was_written_for(tiny_checkpoint, tmp_path):
    checkpoint = tiny_checkpoint("llama", "causal-lm")
    export_model(str(checkpoint), tmp_path / "q4", feature="causal-lm-with-past", quantize="int4-weight",
                 min_cosine=-1.0)  # fmt: skip
    ours = _genai_tokens(tmp_path / "q4", 6)
    from transformers_export.runtime import OnnxModelForCausalLM

    runtime = OnnxModelForCausalLM.from_pretrained(tmp_path / "q4").generate(torch.tensor([PROMPT]), max_new_tokens=6)
    assert ours == runtime[0].tolist()[: len(ours)], "genai and our runtime run the same quantized graph"


def test_a_graph_genai_cannot_run_gets_no_config_and_a_reason(tiny_checkpoint, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="transformers_export"):
        result = export_model(str(tiny_checkpoint("mamba", "causal-lm")), tmp_path / "m", feature="causal-lm-with-past")
    assert "genai_config.json" not in result.manifest["files"] and not (tmp_path / "m" / "genai_config.json").exists()
    assert (
        "no genai_config.json: onnxruntime-genai cannot run this export (its cache holds recurrent state" in caplog.text
    )


def test_the_config_names_the_graph_where_a_target_put_it(tiny_checkpoint, tmp_path):
    checkpoint = tiny_checkpoint("llama", "causal-lm")
    export_model(str(checkpoint), tmp_path / "js", feature="causal-lm-with-past", target="transformers.js")
    config = json.loads((tmp_path / "js" / "genai_config.json").read_text())
    assert config["model"]["decoder"]["filename"] == "onnx/model.onnx"
    assert _genai_tokens(tmp_path / "js", 8) == _pytorch_tokens(checkpoint, 8)[: len(_genai_tokens(tmp_path / "js", 8))]
