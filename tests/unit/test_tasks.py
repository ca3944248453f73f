"""Task names: the seed's features, modern aliases, -with-past, and the errors for unknown ones."""

import pytest

from transformers_export.errors import ExportError
from transformers_export.tasks import ALIASES, TASKS, WITH_PAST_SUFFIX, canonical_feature, get_task, task_of


@pytest.mark.parametrize("alias, tasks", sorted(ALIASES.items()))
def test_aliases_resolve_to_known_tasks(alias, tasks):
    assert canonical_feature(alias) == tasks[0] and all(task in TASKS for task in tasks)
    for task in tasks:
        assert canonical_feature(alias, supported=(task, "default")) == task
        assert canonical_feature(alias + WITH_PAST_SUFFIX, supported=(task + WITH_PAST_SUFFIX,)) == task + "-with-past"


def test_speech_recognition_means_the_export_each_model_supports():
    assert canonical_feature("automatic-speech-recognition", ("default", "ctc")) == "ctc"  # wav2vec2
    assert canonical_feature("automatic-speech-recognition", ("speech2seq-lm", "speech2seq-lm-with-past")) == (
        "speech2seq-lm"
    )  # Whisper


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_resolves_with_and_without_a_cache(task):
    assert get_task(task) is TASKS[task] and get_task(task + WITH_PAST_SUFFIX) is TASKS[task]
    assert TASKS[task].name == task and TASKS[task].outputs, "a task declares its outputs"
    assert all(axes[0] == (0, "batch") for _, axes in TASKS[task].outputs), "outputs start with the batch axis"


def test_an_unknown_feature_lists_the_known_ones():
    with pytest.raises(ExportError) as raised:
        get_task("sequence-clasification")
    assert "sequence-classification" in str(raised.value)
