"""The coverage matrix: every model type of the installed transformers with an Auto class, shrunk to a tiny random
model and exported for every task it has a head for, validated as a user's export is.

    python -m transformers_export.coverage [--model-types a,b,...] [--write COVERAGE.md]
        [--readme docs/architectures.md]

Each (model type, feature) ends as one of: `validated` (a registry entry), `validated-generic` (the generic path),
`failed` (the first line of the error), or `n/a` (the reason: no registry entry and outside the generic path, or no
tiny model could be built from the shrunk configuration). Generating features (`causal-lm-with-past`) also need the
runtime's greedy tokens to equal `generate()`'s.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from .report import Outcome, render, summary, update_readme
from .shrink import shrink, tiny_config
from ..errors import first_line

__all__ = ["check", "main", "model_types", "shrink", "sweep", "tiny_config"]

GREEDY_TOKENS = 8
TIMEOUT_SECONDS = 90
MAX_PARAMETERS = 40_000_000  # a few detection and vision models keep ~35M (sizes the shrinking does not know)


def model_types() -> list[str]:
    """Model types with at least one Auto model class, in the installed transformers."""
    from transformers.models.auto import modeling_auto

    from ..tasks import TASKS

    types = set()
    for task in TASKS.values():
        types.update(getattr(modeling_auto, task.mapping))
    types.update(modeling_auto.MODEL_MAPPING_NAMES)
    return sorted(types)


def _features(model_type: str) -> list[str]:
    from ..tasks import GENERATING_TASKS, TASKS, transformers_model_class_name

    features = []
    for name, task in TASKS.items():
        if transformers_model_class_name(task, model_type) is None:
            continue
        features.append(f"{name}-with-past" if name in GENERATING_TASKS else name)
    return features


class _Timeout(Exception):
    pass


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {first_line(error)}"[:200]


def _greedy_equal(checkpoint: Path, folder: Path, feature: str) -> bool:
    import numpy as np
    import torch

    from ..resolve.loading import load_model
    from ..runtime import from_pretrained
    from ..tasks import task_of

    model = load_model(str(checkpoint), feature).eval()  # as the export loaded it (an encoder's LM head as a decoder)
    vocab = model.config.get_text_config().vocab_size
    prompt = torch.from_numpy(np.random.default_rng(0).integers(3, vocab - 3, (2, 6)))
    if task_of(feature) == "image-text-to-text":
        return _greedy_equal_with_image(model, folder, prompt)
    with torch.no_grad():
        expected = model.generate(prompt, do_sample=False, max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS)
    got = from_pretrained(folder).generate(
        prompt, do_sample=False, max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS
    )
    return got.tolist() == expected.tolist()


def _greedy_equal_with_image(model, folder: Path, prompt) -> bool:
    """An image per prompt, its image tokens after the first text token (as many as the vision graph gives)."""
    import torch

    from ..runtime import from_pretrained
    from ..runtime.image_text_to_text import image_token_id
    from ..layouts.vision_language import VisionGraph, reads_patch_grids

    exported = from_pretrained(folder)
    vision = model.config.vision_config
    if reads_patch_grids(model.config):  # Qwen2-VL-style: two images of the export's grid, flattened patches
        height, width, patches, merge = exported.patch_grid
        pixels = torch.randn(
            2 * patches, exported.vision.get_inputs()[0].shape[1], generator=torch.Generator().manual_seed(0)
        )
        count = patches // merge**2
    else:
        size = vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0]
        pixels = torch.randn(
            2, getattr(vision, "num_channels", 3), size, size, generator=torch.Generator().manual_seed(0)
        )
        with torch.no_grad():
            count = VisionGraph(model)(pixels[:1])["image_features"].shape[1]
    image = torch.full((2, count), image_token_id(model.config))
    inputs = {"input_ids": torch.cat([prompt[:, :1], image, prompt[:, 1:]], dim=1)}
    inputs["pixel_values"] = pixels[:, None] if hasattr(model.model, "connector") else pixels  # Idefics3's tiles
    torch_only = {}
    if reads_patch_grids(model.config):
        inputs["image_grid_thw"] = torch.tensor([[1, height, width]] * 2)
        torch_only["mm_token_type_ids"] = (inputs["input_ids"] == image_token_id(model.config)).long()
    if "token_type_ids" in exported.decoder_inputs:  # PaliGemma, Gemma 3: one type for the whole prompt
        inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    with torch.no_grad():
        expected = model.generate(
            **inputs, **torch_only, do_sample=False, max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS
        )
    got = exported.generate(**inputs, max_new_tokens=GREEDY_TOKENS, min_new_tokens=GREEDY_TOKENS)
    return got.tolist() == expected.tolist()


def check(model_type: str, work: Path) -> list[Outcome]:
    import torch

    from ..errors import UnsupportedFeatureError, UnsupportedModelError
    from ..pipeline import export_model
    from ..resolve.plan import get_spec, spec_for_feature
    from ..tasks import auto_class, get_task, task_of

    features = _features(model_type)
    try:
        spec = get_spec(model_type)
    except UnsupportedModelError as error:
        return [
            Outcome(model_type, f, "n/a", str(error).split(":")[0] + ": outside the generic path") for f in features
        ]
    except Exception as error:  # noqa: BLE001 - a crash of the spec look-up is a failure of the tool: recorded
        return [Outcome(model_type, f, "failed", f"spec look-up: {_first_line(error)}") for f in features]
    try:
        config = tiny_config(model_type)
    except Exception as error:  # noqa: BLE001 - the shrunk configuration is refused by the config class
        return [Outcome(model_type, f, "n/a", f"no tiny configuration: {_first_line(error)}") for f in features]
    outcomes = []
    for feature in features:
        spec = spec_for_feature(model_type, feature)
        validated = "validated-generic" if spec.generic else "validated"
        if feature not in spec.features:
            reason = spec.blocked_features.get(feature) or "not among the architecture's features"
            outcomes.append(Outcome(model_type, feature, "n/a", reason))
            continue
        checkpoint, out = work / f"{model_type}-{feature}", work / f"{model_type}-{feature}-onnx"
        # a copy per feature: building a head may change its config (WhisperForCausalLM makes it a plain decoder)
        feature_config = copy.deepcopy(config)
        feature_config.num_labels = 2 if task_of(feature) == "question-answering" else 3  # start and end logits
        try:
            model_class = auto_class(get_task(task_of(feature)))
            with torch.device("meta"):  # sizes the shrinking missed would build a model that does not fit
                parameters = sum(p.numel() for p in model_class.from_config(feature_config).parameters())
            if parameters > MAX_PARAMETERS:
                raise ValueError(
                    f"the shrunk model still has {parameters / 1e6:.0f}M parameters (sizes the shrinking does not know)"
                )
            torch.manual_seed(0)
            model_class.from_config(feature_config).save_pretrained(checkpoint)
        except Exception as error:  # noqa: BLE001
            outcomes.append(Outcome(model_type, feature, "n/a", f"no tiny model: {_first_line(error)}"))
            continue
        try:
            signal.alarm(TIMEOUT_SECONDS)
            export_model(str(checkpoint), out, feature=feature)
            if task_of(feature) in ("causal-lm", "image-text-to-text") and not _greedy_equal(checkpoint, out, feature):
                raise AssertionError("the runtime's greedy tokens differ from generate()")
            outcomes.append(Outcome(model_type, feature, validated))
        except (UnsupportedFeatureError, UnsupportedModelError) as error:
            outcomes.append(Outcome(model_type, feature, "n/a", _first_line(error)))
        except (Exception, _Timeout) as error:  # noqa: BLE001 - recorded, the sweep goes on
            outcomes.append(Outcome(model_type, feature, "failed", _first_line(error)))
        finally:
            signal.alarm(0)
    return outcomes


def _raise_timeout(signum, frame):
    raise _Timeout(f"took more than {TIMEOUT_SECONDS} s")


def sweep(types: list[str], progress=None) -> list[Outcome]:
    signal.signal(signal.SIGALRM, _raise_timeout)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="coverage-") as work:
        for index, model_type in enumerate(types):
            folder = Path(work) / str(index)
            folder.mkdir()
            outcomes += check(model_type, folder)
            if progress:
                progress(model_type, outcomes)
            shutil.rmtree(folder, ignore_errors=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transformers_export.coverage", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model-types", default=None, help="Comma-separated model types (default: all with an Auto class)."
    )
    parser.add_argument("--write", type=Path, default=None, help="Write the matrix to this Markdown file.")
    parser.add_argument(
        "--readme", type=Path, default=None, help="Update the summary line in this page (docs/architectures.md)."
    )
    parser.add_argument("--json", type=Path, default=None, help="Write every outcome as JSON.")
    parser.add_argument(
        "--shard", default=None, help="K/N: only every N-th model type from the K-th (run N processes, then --merge)."
    )
    parser.add_argument(
        "--resume", action="store_true", help="With --json: skip the model types that file already has."
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="*",
        default=None,
        help="Render from these --json files instead of sweeping (a later file's model types replace an earlier "
        "one's).",
    )
    args = parser.parse_args(argv)
    from ..cli.console import cli_logging

    types = args.model_types.split(",") if args.model_types else model_types()
    if args.shard:
        index, count = (int(part) for part in args.shard.split("/"))
        types = types[index::count]
    if args.merge is not None:
        merged = {}  # a later file's outcome for a model type replaces an earlier one's (a re-run after a fix)
        for path in args.merge:
            found: dict = {}
            for item in json.loads(path.read_text()):
                found.setdefault(item["model_type"], []).append(Outcome(**item))
            merged.update(found)
        outcomes = [outcome for model_type in sorted(merged) for outcome in merged[model_type]]
    else:
        done = (
            [Outcome(**item) for item in json.loads(args.json.read_text())]
            if args.resume and args.json.is_file()
            else []
        )
        types = [t for t in types if t not in {o.model_type for o in done}]

        def progress(model_type, outcomes):
            print(
                f"{model_type}: "
                + ", ".join(f"{x.feature} {x.status}" for x in outcomes if x.model_type == model_type),
                file=sys.stderr,
                flush=True,
            )
            if args.json:  # kept current, so that an interrupted sweep resumes (--resume) where it stopped
                args.json.write_text(json.dumps([o.__dict__ for o in done + outcomes], indent=1) + "\n")

        with cli_logging(False):
            outcomes = done + sweep(types, progress)
    command = "python -m transformers_export.coverage" + (
        f" --model-types {args.model_types}" if args.model_types else ""
    )
    if args.merge is not None:
        command = (
            "python -m transformers_export.coverage --shard K/2 --json shard-K.json for K = 0, 1 (2 processes), "
            "then --merge of those files and of re-runs (--model-types, --json) --write COVERAGE.md --readme README.md"
        )
    if args.write:
        args.write.write_text(render(outcomes, command))
    if args.readme:
        update_readme(args.readme, outcomes)
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1) + "\n")
    print(json.dumps(summary(outcomes)))
    return 0


if __name__ == "__main__":  # also python -m transformers_export.coverage (__main__.py)
    sys.exit(main())
