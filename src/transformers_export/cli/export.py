"""The export command: its parser (torch-free) and its report. No export logic here."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

from .. import __version__
from ..errors import ExportError, ValidationError
from .commands import COMMANDS
from .common import Parser, fail, interrupted
from .console import Display


def build_parser() -> argparse.ArgumentParser:
    from ..formats import backend_names
    from ..formats.onnx.convert import DEFAULT_ENGINE, ENGINES
    from ..output.manifest import LAYOUTS
    from ..output.targets import TARGETS
    from ..optimize.presets import PRESETS, QUANTIZATIONS
    from ..resolve.preprocessor import PREPROCESSOR_KINDS

    commands = "; ".join(f"'{name}': {command.summary}" for name, command in COMMANDS.items())
    parser = Parser(
        prog="transformers-export",
        description="Export a 🤗 Transformers model to ONNX for a feature (task), validated against PyTorch. "
        f"Other commands ({{transformers-export COMMAND --help}}): {commands}.",
    )
    parser.add_argument("--version", action="version", version=f"transformers-export {__version__}")
    parser.add_argument(
        "-m", "--model", required=True, help="Model ID on huggingface.co or path on disk to load model from."
    )
    parser.add_argument(
        "--feature",
        default=None,
        help="The feature (task) to export the model for: default, masked-lm, sequence-classification, ... or "
        "pipeline task names (feature-extraction, fill-mask, text-classification, ...); 'auto' infers it from "
        "config.json. Without it: default (the base model), with a warning when the checkpoint has a head.",
    )
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset version (default: the model's default).")
    parser.add_argument(
        "--dtype",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="Float precision of the exported graph (default fp32: ONNX Runtime's CPU kernels are fp32). bf16 is for "
        "torchscript / exported-program; the checkpoint may be stored in any precision.",
    )
    parser.add_argument(
        "--atol", type=float, default=None, help="Absolute difference tolerance when validating the model."
    )
    parser.add_argument("--framework", choices=["pt", "tf"], default=None, help="Framework of the checkpoint weights.")
    parser.add_argument("--preprocessor", choices=PREPROCESSOR_KINDS, default="auto", help="Which preprocessor to use.")
    parser.add_argument("--cache_dir", "--cache-dir", default=None, help="Path to a folder for cached downloads.")
    parser.add_argument(
        "--format",
        choices=backend_names(),
        default="onnx",
        help="onnx (model.onnx), torchscript (model.pt, torch.jit.trace), exported-program (model.pt2, torch.export) "
        "or "
        "aot-inductor (model.pt2, the torch.export program compiled by AOTInductor; needs a C++ compiler).",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="ONNX only. torch.onnx exporter: 'trace' (TorchScript-based, fast) or 'dynamo' (torch.export-based). "
        f"Default: {DEFAULT_ENGINE}.",
    )
    parser.add_argument(
        "--tracer",
        default=None,
        help="TorchScript only. module:function used instead of torch.jit.trace, e.g. torch_neuronx:trace for AWS "
        "Neuron.",
    )
    parser.add_argument(
        "--untie-weights",
        action="store_true",
        help="TorchScript only. Clone tied output embeddings (the seed's torchscript=True); the result must not be "
        "trained.",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="Batch size of the dummy input the model is traced with (default 2).",
    )
    parser.add_argument(
        "--sequence-length",
        type=int,
        default=None,
        help="Sequence length of the dummy input the model is traced with (default 8).",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=None,
        help="Encoder-decoder models with a cache: 'generation' (default) writes encoder_model.onnx (which also "
        "computes the cross-attention cache) + decoder_model.onnx; 'merged' writes encoder_model.onnx + "
        "decoder_model_merged.onnx, which fills that cache at its first step, as Transformers.js and Optimum expect; "
        "'monolith' writes the seed's single model.onnx, which takes the cross-attention cache as an input. "
        "Everything else is one model.onnx.",
    )
    parser.add_argument(
        "--target",
        choices=tuple(TARGETS),
        default=None,
        help="Write the folder a client loads as-is: 'transformers.js' puts the graph under onnx/ with "
        "Transformers.js' names (model.onnx, model_quantized.onnx with --quantize int8-dynamic, model_q4.onnx with "
        "int4-weight, ...).",
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default=None,
        help="After validation, quantize with a preset and validate again by cosine similarity to PyTorch. --format "
        "onnx: every preset; --format aot-inductor: int8 "
        "(per-token int8 products compiled by inductor). "
        + "; ".join(f"{preset.name}: {preset.summary}" for preset in PRESETS.values())
        + ".",
    )
    parser.add_argument(
        "--min-cosine",
        type=float,
        default=None,
        help="Lowest accepted cosine similarity between a quantized graph's outputs and PyTorch's, per example and "
        "output; below it nothing is written (default: the preset's, "
        + ", ".join(f"{p.name} {p.min_cosine}" for p in PRESETS.values())
        + ").",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="Show library logs, tracebacks and every validation line."
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="Print one summary line (errors stay one line).")
    parser.add_argument(
        "output", type=Path, help="Folder to write model.onnx, config, preprocessor and export.json to."
    )
    return parser


def _collect_after_stages(show):
    """The export process's garbage-collection policy: the collector is off while torch and transformers import and
    the model loads (millions of objects that live as long as the process, and almost no cycles: its passes over them
    took 0.7 s of a 3 s export and freed nothing, benchmarks/RESULTS.md #30); at the end of each stage what is alive
    is frozen out of later passes, and the collector runs on what the next stages make. `export` puts the collector
    back as it found it. A library caller's process keeps its own policy: only the CLI sets one."""

    def on_stage(name: str, seconds: float | None) -> None:
        if seconds is not None:
            gc.freeze()
            gc.enable()
        if show is not None:
            show(name, seconds)

    return on_stage


def export(args) -> int:
    collecting = gc.isenabled()
    gc.disable()  # until the first stage ends: see _collect_after_stages
    try:
        return _export(args)
    finally:  # an in-process caller (cli.main in a notebook or a test) gets its collector back as it was
        gc.unfreeze()
        if collecting:
            gc.enable()


def _export(args) -> int:
    try:
        from ..pipeline import ExportRequest, run_export

        request = ExportRequest(
            model=args.model,
            output=args.output,
            feature=args.feature,
            opset=args.opset,
            atol=args.atol,
            preprocessor=args.preprocessor,
            cache_dir=args.cache_dir,
            framework=args.framework,
            engine=args.engine,
            layout=args.layout,
            format=args.format,
            tracer=args.tracer,
            untie_weights=args.untie_weights,
            batch_size=args.batch_size,
            sequence_length=args.sequence_length,
            quantize=args.quantize,
            target=args.target,
            min_cosine=args.min_cosine,
            dtype=args.dtype,
        )
        display = Display()
        try:
            result = run_export(
                request,
                _collect_after_stages(None if args.quiet else display.stage),
                None if args.quiet else display.progress,
            )
        finally:
            display.close()
    except ValidationError as error:
        if error.report is not None and not args.quiet:
            print("\n".join(_capped(error.report.lines(), args.verbose)))
        return fail(error, args.verbose, error.exit_code)
    except ExportError as error:
        return fail(error, args.verbose, error.exit_code)
    except KeyboardInterrupt as interrupt:
        return interrupted(interrupt)
    except Exception as error:  # a bug or an environment problem: still one line unless --verbose
        return fail(error, args.verbose, 1, prefix=f"unexpected {type(error).__name__}: ")

    if args.quiet:
        runs = len(result.validation.runs)
        print(f"All good: {result.model_path} ({result.format}, {result.feature}, validated on {runs} runs)")
        return 0
    print("\n".join(_capped(result.validation.lines(), args.verbose)))
    specialized = result.validation.specialized_to
    if specialized:
        shape = ", ".join(f"{axis}={size}" for axis, size in specialized.items())
        print(
            f"Note: this trace only runs at the shape it was traced at ({shape}): pad inputs to exactly that shape, or "
            "re-export with --batch-size/--sequence-length set to the size you will pad to."
        )
    print(f"All good, model saved at: {result.model_path}")
    return 0


VALIDATION_LINES_SHOWN = 40


def _capped(lines: list[str], verbose: bool) -> list[str]:
    """Validation detail, capped unless --verbose (a 12-layer decoder's report is hundreds of lines)."""
    if verbose or len(lines) <= VALIDATION_LINES_SHOWN:
        return lines
    # every run keeps its header line (which shapes or decode step); the per-output detail is what is capped
    rest = lines[VALIDATION_LINES_SHOWN:]
    headers = [line for line in rest if line.startswith("Validating ")]
    note = (
        f"\t... {len(rest) - len(headers)} lines of per-output detail not shown "
        "(--verbose shows them; export.json has every run)"
    )
    return [*lines[:VALIDATION_LINES_SHOWN], note, *headers]
