"""`--target transformers.js`: folders that Transformers.js (npm `@huggingface/transformers`, run in Node) loads with
its default options, checked against PyTorch with the real client, not a mock of it."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from transformers_export import export_model
from transformers_export.errors import InvalidArgumentError

SENTENCES = ["Exported for Transformers.js", "a second and longer sentence, so that the first is padded"]


def run_client(client: Path, *arguments, dtype: str | None = None) -> dict:
    env = {**os.environ, **({"TJS_DTYPE": dtype} if dtype else {})}
    done = subprocess.run(
        ["node", str(client), *map(str, arguments)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _embeddings_of(client, folder, minilm_path, dtype=None):
    from transformers import AutoModel, AutoTokenizer

    got = run_client(client, "embed", folder, *SENTENCES, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    inputs = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert got["input_ids"] == inputs["input_ids"].tolist(), "the exported tokenizer tokenizes as the checkpoint's"
    with torch.no_grad():
        expected = AutoModel.from_pretrained(minilm_path)(**inputs).last_hidden_state.numpy()
    ours = np.asarray(got["data"], dtype=np.float32).reshape(got["dims"])
    real = inputs["attention_mask"].numpy() == 1
    return ours[real], expected[real]


def test_minilm_runs_in_transformers_js_as_in_pytorch(node_client, minilm_path, tmp_path):
    result = export_model(str(minilm_path), tmp_path / "tjs", feature="default", target="transformers.js")
    assert result.graph_files == ["onnx/model.onnx"] and not (tmp_path / "tjs" / "model.onnx").exists()
    assert json.loads((tmp_path / "tjs" / "config.json").read_text())["transformers.js_config"] == {"dtype": "fp32"}
    from transformers_export.output.inspection import describe

    assert [graph["file"] for graph in describe(tmp_path / "tjs")["graphs"]] == ["onnx/model.onnx"]
    ours, expected = _embeddings_of(node_client, tmp_path / "tjs", minilm_path)
    np.testing.assert_allclose(ours, expected, atol=1e-4)


@pytest.mark.parametrize(
    "preset, file, dtype", [("int8-weight", "model_quantized.onnx", "q8"), ("int4-weight", "model_q4.onnx", "q4")]
)
def test_a_quantized_export_is_the_dtype_transformers_js_loads_by_default(
    preset, file, dtype, node_client, minilm_path, tmp_path
):
    from transformers_export.optimize.presets import PRESETS

    result = export_model(
        str(minilm_path), tmp_path / "q", feature="default", target="transformers.js", quantize=preset
    )
    # one command, both dtypes: the float graph stays beside the quantized one, and config.json names the latter
    assert sorted(p.name for p in (tmp_path / "q" / "onnx").iterdir()) == sorted([file, "model.onnx"])
    assert json.loads((tmp_path / "q" / "config.json").read_text())["transformers.js_config"] == {"dtype": dtype}
    assert list(result.manifest["graphs"]) == [f"onnx/{file}"]
    assert list(result.manifest["float_graphs"]) == ["onnx/model.onnx"]
    ours, expected = _embeddings_of(node_client, tmp_path / "q", minilm_path)
    cosine = (ours * expected).sum() / np.linalg.norm(ours) / np.linalg.norm(expected)
    assert cosine >= PRESETS[preset].min_cosine, cosine
    ours, expected = _embeddings_of(node_client, tmp_path / "q", minilm_path, dtype="fp32")
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_a_decoder_with_a_cache_generates_pytorchs_tokens_in_transformers_js(node_client, tiny_checkpoint, tmp_path):
    from transformers import AutoModelForCausalLM

    checkpoint = tiny_checkpoint("llama", "causal-lm")
    export_model(str(checkpoint), tmp_path / "llama", feature="causal-lm-with-past", target="transformers.js")
    # a batch of two: Transformers.js sizes the first step's empty cache from the cache inputs' `batch_size` axis
    prompts = [[5, 6, 7, 8, 9, 10], [11, 3, 17, 40, 9, 33]]
    with torch.no_grad():
        expected = AutoModelForCausalLM.from_pretrained(checkpoint).generate(
            torch.tensor(prompts), attention_mask=torch.ones(2, 6, dtype=torch.long), max_new_tokens=8, do_sample=False
        )
    ids = ";".join(",".join(map(str, prompt)) for prompt in prompts)
    got = run_client(node_client, "generate", tmp_path / "llama", ids, 8)
    assert got["tokens"] == expected.tolist()
    # its resolveCacheShape gives 0 to any symbolic dim but `batch_size`: a batch-0 cache, which only some backends
    # (the CPU's) tolerate
    graph = onnx.load(str(tmp_path / "llama" / "onnx" / "model.onnx"), load_external_data=False)
    past = [value for value in graph.graph.input if value.name.startswith("past_key_values")]
    assert past and all(value.type.tensor_type.shape.dim[0].dim_param == "batch_size" for value in past)


@pytest.mark.parametrize("model_type", ["t5", "bart"])
def test_an_encoder_decoder_generates_pytorchs_tokens_in_transformers_js(
    model_type, node_client, tiny_checkpoint, tmp_path
):
    from transformers import AutoModelForSeq2SeqLM

    checkpoint = tiny_checkpoint(model_type, "seq2seq-lm")
    out = tmp_path / model_type
    export_model(str(checkpoint), out, feature="seq2seq-lm-with-past", target="transformers.js")
    files = sorted(p.name for p in (out / "onnx").iterdir())
    assert files == ["decoder_model_merged.onnx", "decoder_model_merged.onnx_data", "encoder_model.onnx",
                     "encoder_model.onnx_data"] and not (out / "model.onnx.data").exists()  # fmt: skip
    # a batch of two, the second right-padded: the decoder reads the encoder's mask
    sources, mask = [[5, 6, 7, 8, 9, 10], [11, 3, 17, 40, 0, 0]], [[1] * 6, [1, 1, 1, 1, 0, 0]]
    with torch.no_grad():
        expected = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).generate(
            torch.tensor(sources), attention_mask=torch.tensor(mask), max_new_tokens=8, do_sample=False
        )
    rows = lambda values: ";".join(",".join(map(str, row)) for row in values)
    got = run_client(node_client, "generate-seq2seq", out, rows(sources), rows(mask), 8)
    assert got["tokens"] == expected.tolist()


def test_whisper_transcribes_pytorchs_tokens_in_transformers_js(node_client, tmp_path):
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=96, num_mel_bins=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, d_model=32, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=50,
        max_target_positions=48, decoder_start_token_id=81, eos_token_id=80, pad_token_id=80, bos_token_id=80,
        init_std=0.3,  # wide enough that greedy decoding does not repeat one token
    )  # fmt: skip
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.save_pretrained(tmp_path / "whisper")
    export_model(
        str(tmp_path / "whisper"), tmp_path / "out", feature="speech2seq-lm-with-past", target="transformers.js"
    )
    # one row: Transformers.js' Whisper generate() starts a single decoder row
    features = torch.randn(1, 16, 100, generator=torch.Generator().manual_seed(0))
    (tmp_path / "features.json").write_text(
        json.dumps({"dims": list(features.shape), "data": features.flatten().tolist()})
    )
    with torch.no_grad():
        expected = model.generate(features, max_new_tokens=8)
    got = run_client(node_client, "transcribe", tmp_path / "out", tmp_path / "features.json", 8)
    assert got["tokens"] == [[81, *expected[0].tolist()]]  # PyTorch's Whisper generate() leaves out the start token
    assert len(set(expected[0].tolist())) > 1


@pytest.mark.parametrize(
    "feature, layout, message",
    [
        ("seq2seq-lm-with-past", "monolith", "--target transformers.js runs encoder-decoders as the merged layout only: "
         "use --feature seq2seq-lm-with-past without --layout"),
        ("seq2seq-lm", None, "needs a cache: use --feature seq2seq-lm-with-past"),
    ],
)  # fmt: skip
def test_an_encoder_decoder_as_one_graph_is_refused_before_the_work(
    feature, layout, message, tiny_checkpoint, tmp_path
):
    with pytest.raises(InvalidArgumentError, match=message):
        export_model(str(tiny_checkpoint("t5", "seq2seq-lm")), tmp_path / "t5", feature=feature, layout=layout,
                     target="transformers.js")  # fmt: skip
    assert not (tmp_path / "t5").exists()
