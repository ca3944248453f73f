"""The package's shape: no import cycles (imports inside functions included), modules readable in one sitting, and
cache tensor names spelled only by the cache module."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "transformers_export"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(name: str, path: Path, modules) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.update(c for c in [target, *(f"{target}.{a.name}" for a in node.names)] if c in modules)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
    found.discard(name)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_modules_fit_in_one_sitting():
    # config.py is the seed's API (a few hundred lines of names users subclass); everything else stays under 300
    long = {p.name: n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300 and p.name != "config.py"}
    assert not long, long


def test_only_the_cache_module_spells_cache_names():
    pattern = re.compile(r"""f?["']present\.|f?["']past_key_values\.""")
    spelled = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).as_posix() != "cache/names.py" and pattern.search(path.read_text())
    ]
    assert not spelled, spelled


def test_cli_parser_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from transformers_export import cli; cli.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


# what the runtime may import from the exporter's side: the contracts it reads folders and inputs by
RUNTIME_CONTRACTS = {
    "transformers_export",  # the package itself (`from .. import x` of a contract module)
    "transformers_export.cache", "transformers_export.cache.names", "transformers_export.output",
    "transformers_export.output.manifest", "transformers_export.output.copy", "transformers_export.tasks",
    "transformers_export.errors",
}
# `from_pretrained(checkpoint, export=True)` exports: its module is the runtime's one door to the pipeline
DOORS_TO_THE_PIPELINE = {("transformers_export.runtime.on_the_fly", "transformers_export.pipeline")}


def test_the_runtime_imports_only_the_contracts_it_needs():
    wrong = {
        (name, target)
        for name, targets in _import_graph().items() if _wing(name) == "runtime"
        for target in targets
        if _wing(target) != "runtime" and target not in RUNTIME_CONTRACTS and (name, target) not in DOORS_TO_THE_PIPELINE
    }
    assert not wrong, sorted(wrong)


def test_nothing_in_the_product_imports_the_developer_tools():
    # coverage/ and benchmark/ are developer tools; the CLI's `benchmark` command is benchmark/'s one face
    wrong = {
        (name, target)
        for name, targets in _import_graph().items() if _wing(name) not in ("coverage", "benchmark")
        for target in targets
        if _wing(target) == "coverage" or (_wing(target) == "benchmark" and _wing(name) != "cli")
    }
    assert not wrong, sorted(wrong)


def test_stages_below_resolve_never_import_it_or_the_pipeline():
    below = ("formats", "layouts", "validation", "dummy_inputs", "cache", "output", "optimize", "runtime", "architectures")
    wrong = {
        (name, target)
        for name, targets in _import_graph().items() if _wing(name) in below
        for target in targets if _wing(target) in ("resolve", "pipeline") and (name, target) not in DOORS_TO_THE_PIPELINE
    }
    assert not wrong, sorted(wrong)


def test_the_top_level_holds_only_faces_and_contracts():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= 12, top


def test_only_the_manifest_schema_spells_layout_names():
    """Layouts are registered objects: no module spells a layout's name or compares a layout with a string."""
    from transformers_export.output.manifest import LAYOUTS

    spelled = []
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in LAYOUTS and node.value != "generation":
                spelled.append((where, node.lineno, node.value))  # "generation" is also a benchmark's word
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                names_layout = any("layout" in ast.unparse(side) for side in sides)
                if names_layout and any(isinstance(s, ast.Constant) and isinstance(s.value, str) for s in sides):
                    spelled.append((where, node.lineno, ast.unparse(node)))
    spelled = [entry for entry in spelled if entry[0] != "output/manifest.py"]
    assert not spelled, spelled


def test_no_module_outside_validation_is_named_for_it():
    misplaced = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*valid*.py") if p.parent.name != "validation"]
    assert not misplaced, misplaced


def test_lines_fit_120_columns():
    # pyproject's [tool.ruff] line-length; the architecture families are tables whose declarations stay one a line
    tables = {"audio.py", "decoders.py", "encoders.py", "multimodal.py", "seq2seq.py", "vision.py"}
    long = [
        f"{path.relative_to(PACKAGE).as_posix()}:{number}"
        for path in PACKAGE.rglob("*.py")
        if not (path.parent.name == "architectures" and path.name in tables)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > 120
    ]
    assert not long, long
