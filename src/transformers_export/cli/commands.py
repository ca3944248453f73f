"""The subcommands besides export: `convert-tf`, `inspect` and `benchmark`. Parsers are torch-free; the work is
imported when a command runs."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .common import Parser, fail, interrupted
from .console import Display, cli_logging
from ..errors import ExportError, InvalidArgumentError
from ..output.signals import handling_signals


def convert_tf_main(argv: list[str]) -> int:
    parser = Parser(
        prog="transformers-export convert-tf",
        description="Write a PyTorch checkpoint (model.safetensors, config, tokenizer) for a TensorFlow checkpoint "
        "folder (config.json + tf_model.h5), without TensorFlow.",
    )
    parser.add_argument("folder", type=Path, help="Folder with config.json and tf_model.h5.")
    parser.add_argument("output", type=Path, help="Folder to write the PyTorch checkpoint to.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Show library logs and tracebacks.")
    try:
        args = parser.parse_args(argv)
    except InvalidArgumentError as error:
        return fail(error, False, error.exit_code)
    with cli_logging(args.verbose), handling_signals():
        return _convert_tf(args)


def _convert_tf(args) -> int:
    try:
        from ..pipeline import convert_tf

        convert_tf(args.folder, args.output)
    except ExportError as error:
        return fail(error, args.verbose, error.exit_code)
    except KeyboardInterrupt as interrupt:
        return interrupted(interrupt)
    print(f"All good, PyTorch checkpoint saved at: {args.output}")
    return 0


def inspect_main(argv: list[str]) -> int:
    parser = Parser(
        prog="transformers-export inspect",
        description="Show what an exported folder or graph file holds: inputs and outputs with their axes, opset, file "
        "sizes and external data, an operator histogram, and the export.json summary (feature, validation, "
        "quantization).",
    )
    parser.add_argument("path", type=Path, help="An exported folder, or one graph file (.onnx, .pt, .pt2).")
    parser.add_argument("--json", action="store_true", help="Print the description as JSON instead of text.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Show tracebacks.")
    try:
        args = parser.parse_args(argv)
        from ..output.inspection import describe, render

        description = describe(args.path)
    except InvalidArgumentError as error:
        return fail(error, False, error.exit_code)
    except ExportError as error:
        return fail(error, args.verbose, error.exit_code)
    except KeyboardInterrupt as interrupt:
        return interrupted(interrupt)
    except Exception as error:  # a bug or an unforeseen file: still one line unless --verbose
        return fail(error, args.verbose, 1, prefix=f"unexpected {type(error).__name__}: ")
    print(json.dumps(description, indent=2) if args.json else render(description))
    return 0


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise InvalidArgumentError(f"batch sizes must be positive integers separated by commas, got {text!r}")
    return sizes


def benchmark_main(argv: list[str]) -> int:
    from ..benchmark import CONTENDER_KEYS, OPTIONAL_CONTENDERS
    from ..optimize.presets import QUANTIZATIONS

    parser = Parser(
        prog="transformers-export benchmark",
        description="Race PyTorch eager (fp32, and bf16 where the CPU has native bf16), TorchScript, torch.export and "
        "ONNX Runtime (plus quantized variants) on the same inputs: latency p50/p90, throughput, memory, and greedy "
        "generation tokens/s for models with a cache. A checkpoint is exported first; an exported folder is raced "
        "against the checkpoint its export.json names.",
    )
    parser.add_argument("model", help="A checkpoint folder (or hub id), or an exported ONNX folder.")
    parser.add_argument("--feature", default=None, help="Checkpoints only: the feature to export (default: auto).")
    parser.add_argument("--batch-size", default="1,8", help="Batch sizes, comma-separated (default 1,8).")
    parser.add_argument("--sequence-length", type=int, default=128, help="Tokens per row (default 128).")
    parser.add_argument(
        "--threads", type=int, default=None, help="Threads for PyTorch and ONNX Runtime (default: theirs)."
    )
    parser.add_argument(
        "--runs", type=int, default=20, help="Timed rounds per shape (default 20), after --warmup rounds."
    )
    parser.add_argument("--warmup", type=int, default=3, help="Untimed rounds first (default 3).")
    parser.add_argument(
        "--quantize",
        action="append",
        choices=QUANTIZATIONS,
        default=[],
        help="Add an ONNX variant quantized so (repeatable); int8 also adds an AOTInductor one when aot-inductor "
        "races.",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDER_KEYS),
        help=f"Which to race, comma-separated (default: {','.join(CONTENDER_KEYS)}; bf16 runs only where the CPU "
        f"computes bf16 natively; also {', '.join(OPTIONAL_CONTENDERS)}, "
        "with --quantize int8 its int8 package too).",
    )
    parser.add_argument(
        "--generate-tokens", type=int, default=32, help="New tokens per generation run (0: no generation timing)."
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="Keep the exports made for the race here (default: a temporary folder).",
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the results as JSON to this file.")
    parser.add_argument(
        "--plot", type=Path, default=None, help="Also draw the speed-ups as a bar chart (PNG, needs matplotlib)."
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="No progress display.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Show library logs and tracebacks.")
    try:
        args = parser.parse_args(argv)
        contenders = tuple(name.strip() for name in args.contenders.split(",") if name.strip())
        unknown = sorted(set(contenders) - set(CONTENDER_KEYS) - set(OPTIONAL_CONTENDERS))
        if unknown or not contenders:
            raise InvalidArgumentError(
                f"unknown contender(s) {', '.join(unknown) or '(none given)'}; choose from "
                f"{', '.join(CONTENDER_KEYS + OPTIONAL_CONTENDERS)}"
            )
        for name in ("sequence_length", "runs", "threads"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise InvalidArgumentError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if args.warmup < 0 or args.generate_tokens < 0:
            raise InvalidArgumentError("--warmup and --generate-tokens must not be negative")
        batch_sizes = _sizes(args.batch_size)
        for flag, path in (("--json", args.json), ("--plot", args.plot)):
            _check_result_file(flag, path)
        if args.plot is not None and importlib.util.find_spec("matplotlib") is None:  # before the race, not after
            raise InvalidArgumentError("--plot needs matplotlib: pip install matplotlib (or drop --plot)")
        if args.work_dir is not None and args.work_dir.exists() and not args.work_dir.is_dir():
            raise InvalidArgumentError(f"--work-dir '{args.work_dir}' exists and is not a folder")
    except InvalidArgumentError as error:
        return fail(error, False, error.exit_code)
    with cli_logging(args.verbose), handling_signals():
        return _benchmark(args, batch_sizes, contenders)


def _benchmark(args, batch_sizes, contenders) -> int:
    from ..benchmark import BenchmarkRequest, run_benchmark
    from ..benchmark.report import plot, render

    request = BenchmarkRequest(
        model=args.model,
        feature=args.feature,
        batch_sizes=batch_sizes,
        sequence_length=args.sequence_length,
        threads=args.threads,
        runs=args.runs,
        warmup=args.warmup,
        quantize=tuple(args.quantize),
        contenders=contenders,
        generate_tokens=args.generate_tokens,
        work_dir=args.work_dir,
    )
    display = Display()
    try:
        report = run_benchmark(
            request, (lambda text: None) if args.quiet else display.note, None if args.quiet else display.counter
        )
    except (ExportError, ValueError, OSError) as error:
        return fail(error, args.verbose, getattr(error, "exit_code", 1))
    except KeyboardInterrupt as interrupt:
        return interrupted(interrupt)
    except Exception as error:  # a bug or an environment problem: still one line unless --verbose
        return fail(error, args.verbose, 1, prefix=f"unexpected {type(error).__name__}: ")
    finally:
        display.close()
    print(render(report))
    try:
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        if args.plot:
            plot(report, args.plot)
    except ImportError as error:
        return fail(error, False, 1)
    except OSError as error:
        return fail(error, False, 1, prefix=f"cannot write {error.filename}: ")
    return 0


def _check_result_file(flag: str, path: Path | None) -> None:
    """A results file is checked before the race, which can take minutes: its folder must exist, and it must not
    be a folder itself."""
    if path is None:
        return
    if path.is_dir():
        raise InvalidArgumentError(f"{flag} '{path}' is a folder; pass a file name")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise InvalidArgumentError(f"{flag} '{path}': the folder '{parent}' does not exist")


@dataclass(frozen=True)
class Command:
    summary: str
    main: Callable[[list[str]], int]


COMMANDS = {
    "convert-tf": Command(
        "read a TensorFlow checkpoint folder and write a PyTorch one (no TensorFlow needed)", convert_tf_main
    ),
    "inspect": Command(
        "show an exported folder's or graph's inputs, outputs, operators, sizes and validation", inspect_main
    ),
    "benchmark": Command(
        "race PyTorch, TorchScript, torch.export and ONNX Runtime on a model, with a table, JSON and a plot",
        benchmark_main,
    ),
}
