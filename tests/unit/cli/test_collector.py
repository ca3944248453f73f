"""The CLI's garbage-collection policy: the collector is off until the first stage ends, then what is alive is frozen
and the collector runs again; the stage display is called as before."""

import gc

import pytest

from transformers_export.cli.export import _collect_after_stages


@pytest.fixture
def collector_state():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_a_stage_end_freezes_the_heap_and_turns_the_collector_back_on(collector_state):
    shown = []
    on_stage = _collect_after_stages(lambda name, seconds: shown.append((name, seconds)))
    gc.disable()
    gc.unfreeze()
    on_stage("resolve", None)  # a stage starts: nothing changes
    assert not gc.isenabled() and gc.get_freeze_count() == 0
    on_stage("resolve", 1.5)
    assert gc.isenabled() and gc.get_freeze_count() > 0
    assert shown == [("resolve", None), ("resolve", 1.5)]


def test_quiet_exports_keep_the_policy(collector_state):
    on_stage = _collect_after_stages(None)
    gc.disable()
    on_stage("trace", 0.2)
    assert gc.isenabled()


def test_an_in_process_export_leaves_the_collector_as_it_found_it(collector_state, tmp_path, capsys):
    from transformers_export import cli

    gc.enable()
    gc.unfreeze()
    assert cli.main(["-m", str(tmp_path / "missing"), str(tmp_path / "out")]) != 0  # fails before any stage ends
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert "missing" in capsys.readouterr().err
