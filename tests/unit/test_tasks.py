"""Task names: the seed's features, modern aliases, -with-past, and the errors for unknown ones."""

import pytest

from transformers_export.errors import ExportError
from transformers_export.tasks import ALIASES, TASKS, WITH_PAST_SUFFIX, canonical_feature, get_task, task_of


@pytest.mark.parametrize("alias, task", sorted(ALIASES.items()))
def test_aliases_resolve_to_known_tasks(alias, task):
    assert canonical_feature(alias) == canonical_feature(task)
    assert task_of(canonical_feature(alias)) in TASKS


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_resolves_with_and_without_a_cache(task):
    assert get_task(task) is TASKS[task] and get_task(task + WITH_PAST_SUFFIX) is TASKS[task]
    assert TASKS[task].name == task and TASKS[task].outputs, "a task declares its outputs"
    assert all(axes[0] == (0, "batch") for _, axes in TASKS[task].outputs), "outputs start with the batch axis"


def test_an_unknown_feature_lists_the_known_ones():
    with pytest.raises(ExportError) as raised:
        get_task("sequence-clasification")
    assert "sequence-classification" in str(raised.value)
