"""The architecture x feature table of docs/architectures.md, generated from the registry
(`python -m transformers_export.coverage.support_table`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..architectures import all_specs
from ..tasks import TASKS, WITH_PAST_SUFFIX

START, END = "<!-- support-table:start -->", "<!-- support-table:end -->"


def _columns(specs) -> list[str]:
    ordered = [feature for name in TASKS for feature in (name, name + WITH_PAST_SUFFIX)]
    return [feature for feature in ordered if any(feature in spec.tasks for spec in specs)]


def _dynamic_axes(spec) -> str:
    """The input axes that stay dynamic (images: height and width only where the architecture allows it)."""
    from ..config import onnx_config_class
    from transformers import AutoConfig

    names = []
    feature = (spec.features or spec.tasks)[0]
    for axes in onnx_config_class(spec)(AutoConfig.for_model(spec.model_type), task=feature).inputs.values():
        names += [axis for axis in axes.values() if axis not in names]
    return ", ".join(names)


def render() -> str:
    specs = all_specs()
    tasks = _columns(specs)
    header = ["architecture", "model_type", *tasks, "atol", "dynamic axes"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reasons: dict[str, int] = {}
    for spec in specs:
        cells = []
        for task in tasks:
            if task in spec.features:
                cells.append("✅")
            elif task in spec.blocked_features:
                note = reasons.setdefault(spec.blocked_features[task], len(reasons) + 1)
                cells.append(f"❌[^{note}]")
            elif task in spec.tasks and not spec.transformers_supports(task):
                cells.append("–")
            else:
                cells.append(" ")
        name = spec.display_name or spec.model_type
        rows.append(
            "| " + " | ".join([name, f"`{spec.model_type}`", *cells, f"{spec.atol:g}", _dynamic_axes(spec)]) + " |"
        )
    legend = [
        "",
        "✅ exported and validated in CI on a tiny random model · – transformers has no such head for this model type",
        "",
        "Model types not in this table: text encoders and decoders that the installed transformers can load export "
        'through the **generic path** (marked `"architecture": "generic"` in `export.json`); '
        "[COVERAGE.md](../COVERAGE.md) has every model type's outcome.",
    ]
    legend += [f"[^{number}]: not exportable: {reason}." for reason, number in reasons.items()]
    return "\n".join(rows + legend)


def update(readme: Path) -> bool:
    """Rewrite the table between the markers; return whether the file changed."""
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{render()}\n{END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--update", type=Path, help="page to rewrite between the support-table markers (docs/architectures.md)"
    )
    args = parser.parse_args(argv)
    if args.update:
        print("updated" if update(args.update) else "already current", file=sys.stderr)
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
