"""Comparisons: tolerance relative to each output's magnitude, cosine for quantized graphs, NaN and shapes fail."""

import numpy as np
import pytest

from transformers_export.validation.report import Tolerance, compare, runtime_message


def test_the_bound_grows_with_the_outputs_magnitude():
    tolerance = Tolerance(atol=1e-5, rtol=1e-3)
    assert tolerance.bound(np.array([0.0])) == pytest.approx(1e-5)
    assert tolerance.bound(np.array([-1000.0, 2.0])) == pytest.approx(1e-5 + 1.0)


@pytest.mark.parametrize(
    "actual, ok",
    [
        (np.array([100.0, 1.0]), True),
        (np.array([100.05, 1.0]), True),  # within rtol x 100
        (np.array([100.0, 1.2]), False),
        (np.array([np.nan, 1.0]), False),
    ],
)
def test_values_within_the_relative_bound_pass(actual, ok):
    check = compare("logits", np.array([100.0, 1.0]), actual, Tolerance(atol=1e-5, rtol=1e-3))
    assert check.values_ok is ok and check.shape_ok


def test_a_shape_mismatch_fails_without_comparing_values():
    check = compare("logits", np.zeros((2, 3)), np.zeros((3, 2)), Tolerance(atol=1.0))
    assert not check.shape_ok and check.max_abs_diff is None and not check.values_ok


def test_quantized_outputs_are_judged_by_the_lowest_per_example_cosine():
    reference = np.array([[1.0, 0.0], [0.0, 1.0]])
    close = compare("x", reference, reference + [[0.01, 0.0], [0.0, 0.0]], Tolerance(atol=1e-9, min_cosine=0.99))
    assert close.values_ok and close.cosine > 0.99
    far = compare("x", reference, np.array([[1.0, 0.0], [1.0, 0.0]]), Tolerance(atol=1e-9, min_cosine=0.99))
    assert not far.values_ok and far.cosine == pytest.approx(0.0)


def test_all_zero_examples_on_both_sides_are_identical():
    check = compare("present", np.zeros((2, 4)), np.zeros((2, 4)), Tolerance(atol=1e-9, min_cosine=0.99))
    assert check.values_ok and check.cosine == 1.0


def test_runtime_messages_are_one_bounded_line():
    message = runtime_message(RuntimeError("a\n  b " + "x" * 1000))
    assert "\n" not in message and len(message) <= 300 and message.startswith("a b")
