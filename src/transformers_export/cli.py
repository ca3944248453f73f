"""`transformers-export` / `python -m transformers_export`: argument parsing and the report. No export logic here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ExportError, ValidationError

STAGE_LABELS = {
    "resolve": "loaded model and preprocessor",
    "trace": "traced and wrote the model",
    "validate": "validated against PyTorch",
    "quantize": "quantized to int8 and validated again",
    "write": "wrote config, preprocessor and export.json",
}


def build_parser() -> argparse.ArgumentParser:
    from .onnx.convert import DEFAULT_ENGINE, ENGINES
    from .resolve import PREPROCESSOR_KINDS

    parser = argparse.ArgumentParser(
        prog="transformers-export",
        description="Export a 🤗 Transformers model to ONNX for a feature (task), validated against PyTorch.",
    )
    parser.add_argument("-m", "--model", required=True, help="Model ID on huggingface.co or path on disk to load model from.")
    parser.add_argument(
        "--feature",
        default="default",
        help="The feature (task) to export the model for: default, masked-lm, sequence-classification, ... or "
        "modern names (feature-extraction, fill-mask, text-classification, ...); 'auto' infers it from config.json.",
    )
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset version (default: the model's default).")
    parser.add_argument("--atol", type=float, default=None, help="Absolute difference tolerance when validating the model.")
    parser.add_argument("--framework", choices=["pt", "tf"], default=None, help="Framework of the checkpoint weights.")
    parser.add_argument("--preprocessor", choices=PREPROCESSOR_KINDS, default="auto", help="Which preprocessor to use.")
    parser.add_argument("--cache_dir", "--cache-dir", default=None, help="Path to a folder for cached downloads.")
    parser.add_argument(
        "--format",
        choices=("onnx", "torchscript", "exported-program"),
        default="onnx",
        help="onnx (model.onnx), torchscript (model.pt, torch.jit.trace) or exported-program (model.pt2, torch.export).",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help=f"ONNX only. torch.onnx exporter: 'trace' (TorchScript-based, fast) or 'dynamo' (torch.export-based). Default: {DEFAULT_ENGINE}.",
    )
    parser.add_argument(
        "--tracer",
        default=None,
        help="TorchScript only. module:function used instead of torch.jit.trace, e.g. torch_neuronx:trace for AWS Neuron.",
    )
    parser.add_argument(
        "--untie-weights",
        action="store_true",
        help="TorchScript only. Clone tied output embeddings (the seed's torchscript=True); the result must not be trained.",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="Batch size of the dummy input the model is traced with (default 2).")
    parser.add_argument(
        "--sequence-length", type=int, default=None, help="Sequence length of the dummy input the model is traced with (default 8)."
    )
    parser.add_argument(
        "--layout",
        choices=("monolith", "generation"),
        default=None,
        help="Encoder-decoder models with a cache: 'generation' (default) writes encoder_model.onnx + decoder_model.onnx "
        "with a KV cache that also serves the first step; 'monolith' writes the seed's single model.onnx, which takes "
        "the cross-attention cache as an input. Everything else is one model.onnx.",
    )
    parser.add_argument(
        "--quantize",
        choices=("int8",),
        default=None,
        help="After validation, quantize the weights to int8 (dynamic, per channel: no calibration data) and validate "
        "again by cosine similarity to PyTorch. ONNX only.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="Show library logs and tracebacks.")
    parser.add_argument("output", type=Path, help="Folder to write model.onnx, config, preprocessor and export.json to.")
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a message is logged, not when the handler was made (notebooks and test
    runners replace it)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@contextmanager
def _cli_logging(verbose: bool) -> Iterator[None]:
    """The CLI's log format and levels while a command runs; the caller's logging is restored afterwards (`main` may
    be called in-process)."""
    import transformers

    package_logger = logging.getLogger("transformers_export")
    saved = (package_logger.handlers[:], package_logger.level, package_logger.propagate)
    saved_transformers = (transformers.logging.get_verbosity(), transformers.utils.logging.is_progress_bar_enabled())
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    package_logger.handlers[:] = [handler]
    package_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    package_logger.propagate = False
    if not verbose:
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        package_logger.handlers[:], level, package_logger.propagate = saved
        package_logger.setLevel(level)
        transformers.logging.set_verbosity(saved_transformers[0])
        if saved_transformers[1]:
            transformers.logging.enable_progress_bar()


def _print_stage(name: str, seconds: float) -> None:
    print(f"[{seconds:6.2f}s] {STAGE_LABELS.get(name, name)}", file=sys.stderr, flush=True)


def convert_tf_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="transformers-export convert-tf",
        description="Write a PyTorch checkpoint (model.safetensors, config, tokenizer) for a TensorFlow checkpoint "
        "folder (config.json + tf_model.h5), without TensorFlow.",
    )
    parser.add_argument("folder", type=Path, help="Folder with config.json and tf_model.h5.")
    parser.add_argument("output", type=Path, help="Folder to write the PyTorch checkpoint to.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Show library logs and tracebacks.")
    args = parser.parse_args(argv)
    with _cli_logging(args.verbose):
        return _convert_tf(args)


def _convert_tf(args) -> int:
    try:
        from .pipeline import convert_tf

        convert_tf(args.folder, args.output)
    except ExportError as error:
        return _fail(error, args.verbose, error.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted; the output folder was left as it was", file=sys.stderr)
        return 130
    print(f"All good, PyTorch checkpoint saved at: {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["convert-tf"]:
        return convert_tf_main(argv[1:])
    args = build_parser().parse_args(argv)
    with _cli_logging(args.verbose):
        return _export(args)


def _export(args) -> int:
    try:
        from .pipeline import export_model

        result = export_model(
            args.model,
            args.output,
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
            on_stage=_print_stage,
        )
    except ValidationError as error:
        if error.report is not None:
            print("\n".join(error.report.lines()))
        return _fail(error, args.verbose, error.exit_code)
    except ExportError as error:
        return _fail(error, args.verbose, error.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted; the output folder was left as it was", file=sys.stderr)
        return 130
    except Exception as error:  # a bug or an environment problem: still one line unless --verbose
        return _fail(error, args.verbose, 1, prefix=f"unexpected {type(error).__name__}: ")

    print("\n".join(result.validation.lines()))
    specialized = result.validation.specialized_to
    if specialized:
        shape = ", ".join(f"{axis}={size}" for axis, size in specialized.items())
        print(
            f"Note: this trace only runs at the shape it was traced at ({shape}): pad inputs to exactly that shape, or "
            "re-export with --batch-size/--sequence-length set to the size you will pad to."
        )
    print(f"All good, model saved at: {result.model_path}")
    return 0


def _fail(error: BaseException, verbose: bool, code: int, prefix: str = "") -> int:
    if verbose:
        traceback.print_exception(error)
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    hint = "" if verbose else " (run with --verbose for details)" if prefix else ""
    print(f"error: {prefix}{message}{hint}", file=sys.stderr)
    return code


def run() -> None:
    """Console entry point. Skips interpreter teardown (about 1.5 s of torch/onnxruntime destructors) once every
    file is written and closed: the export is committed by then, and nothing else is pending."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
