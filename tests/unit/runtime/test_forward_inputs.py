"""forward()'s inputs are checked against the graph before ONNX Runtime sees them: dtype, rank, fixed sizes, sizes
shared between inputs, and value ranges, each refused with a ValueError naming the input."""

import math

import numpy as np
import pytest
from transformers import GenerationConfig

from transformers_export.runtime.arguments import settings_from
from transformers_export.runtime.beam_search import beam_search
from transformers_export.runtime.inputs import InputSpec, check_input, check_prompt, check_shared_axes
from transformers_export.runtime.rules import GenerationSettings

SPECS = {
    "input_ids": InputSpec("input_ids", ("batch", "sequence"), {0: "batch", 1: "sequence"}, True, 100),
    "attention_mask": InputSpec("attention_mask", ("batch", "sequence"), {0: "batch", 1: "sequence"}, True),
    "token_type_ids": InputSpec("token_type_ids", ("batch", "sequence"), {0: "batch", 1: "sequence"}, True, 2),
    "pixel_values": InputSpec("pixel_values", ("batch", 3, 8, 8), {0: "batch"}, False),
}
IDS = np.array([[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("input_ids", IDS.astype(np.float32), "input_ids must hold integers, got dtype float32"),
        ("input_ids", -IDS, r"input_ids holds negative ids \(smallest -6\)"),
        ("input_ids", IDS + 100, "input_ids holds 106, outside the 100 the model has"),
        ("input_ids", IDS[0], r"input_ids must be 2-D \(batch, sequence\), got shape \(3,\)"),
        ("input_ids", np.array([["a"]]), "input_ids must hold numbers"),
        ("attention_mask", np.full((2, 3), 0.5), "attention_mask must hold only 0 and 1"),
        ("attention_mask", np.full((2, 3), 2), "attention_mask must hold only 0 and 1"),
        ("token_type_ids", IDS, "token_type_ids holds 6, outside the 2 the model has"),
        ("pixel_values", np.zeros((1, 1, 8, 8), np.float32), r"pixel_values must have axis 1 3 \(the graph is fixed"),
    ],
)
def test_a_bad_input_is_refused_by_name(name, value, message):
    with pytest.raises(ValueError, match=message):
        check_input(SPECS[name], value)


def test_good_inputs_pass_and_a_float_mask_of_ones_is_a_mask():
    assert check_input(SPECS["input_ids"], IDS) is IDS
    check_input(SPECS["attention_mask"], np.ones((2, 3), np.float32))
    check_input(SPECS["pixel_values"], np.zeros((5, 3, 8, 8), np.float32))


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.ones((3, 3)), "attention_mask has batch 3, but input_ids has batch 2"),
        (np.ones((2, 4)), "attention_mask has sequence 4, but input_ids has sequence 3"),
    ],
)
def test_inputs_sharing_an_axis_agree_on_its_size(mask, message):
    with pytest.raises(ValueError, match=message):
        check_shared_axes({"input_ids": IDS, "attention_mask": mask}, SPECS)
    check_shared_axes({"input_ids": IDS, "attention_mask": np.ones((2, 3))}, SPECS)


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match="input_ids has an empty batch: pass at least one prompt"):
        check_prompt(np.zeros((0, 3), np.int64))


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            dict(do_sample=True, temperature=0.0),
            r"`temperature` \(=0.0\) has to be a strictly positive .* `do_sample=False`",
        ),
        (dict(do_sample=True, temperature=math.nan), r"`temperature` \(=nan\) has to be a strictly positive float"),
        (dict(do_sample=True, temperature=-1.0), "`temperature`"),
        (dict(do_sample=True, top_p=0.0), "`top_p` has to be a float > 0 and < 1, but is 0.0"),
        (dict(do_sample=True, top_p=1.5), "`top_p` has to be a float > 0 and < 1, but is 1.5"),
        (dict(do_sample=True, top_k=-1), "`top_k` has to be a strictly positive integer, but is -1"),
        (dict(repetition_penalty=0.0), "`repetition_penalty` has to be a strictly positive float, but is 0.0"),
        (dict(repetition_penalty=math.nan), "`repetition_penalty` has to be a strictly positive float"),
        (dict(num_beams=0), "`num_beams` has to be a strictly positive integer, but is 0"),
        (dict(num_return_sequences=0), "`num_return_sequences` has to be a strictly positive integer"),
    ],
)
def test_out_of_range_generation_settings_are_refused_in_transformers_words(settings, message):
    config = GenerationConfig()
    for name, value in settings.items():
        setattr(config, name, value)  # as resolve() leaves them: GenerationConfig itself only warns
    with pytest.raises(ValueError, match=message):
        settings_from(config)


def test_settings_transformers_takes_are_taken():
    settings_from(GenerationConfig(do_sample=True, temperature=0.7, top_p=1.0, top_k=0, repetition_penalty=1.2))
    settings_from(GenerationConfig(temperature=0.0))  # greedy ignores the temperature, as generate() does


def test_beam_search_allocates_as_it_goes_not_for_max_new_tokens():
    """max_new_tokens=10**9 with beams allocated (batch, beams, 10**9) up front: 15 GiB before the first step."""
    vocab, calls = 7, []

    def step(new_tokens):
        calls.append(len(calls))
        logits = np.zeros((new_tokens.shape[0], new_tokens.shape[1], vocab), np.float32)
        logits[:, :, 1 + len(calls) % 5] = 5.0  # never the end token until step 300
        if len(calls) > 300:
            logits[:, :, 0] = 50.0
        return logits

    prompt = np.array([[3, 4], [5, 6]])
    out = beam_search(step, lambda rows: None, prompt, 3, 10**9, GenerationSettings(eos_token_id=[0], pad_token_id=0))
    assert out.shape[0] == 2 and 300 < out.shape[1] < 320, out.shape
    np.testing.assert_array_equal(out[:, :2], prompt)
