"""The AOTInductor format (`--format aot-inductor`): the torch.export program compiled ahead of time by inductor into
a package (`model.pt2`: a shared library with the weights), loaded with `torch._inductor.aoti_load_package`.

The package runs without the model's Python code and with inductor's fused CPU kernels (oneDNN, VNNI/AMX where the CPU
has them). It is machine code for the CPU family it was compiled on (inductor picks the vector ISA at compile time)
and for the torch version that compiled it; exporting needs a C++ compiler.

`--quantize int8` rewrites the program's linears to int8 before compiling (`optimize/program_int8.py`). The float
program is kept in the staging folder between tracing and quantizing, and deleted by the quantize stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..errors import MissingDependencyError, TraceError, first_line
from .base import ExportedGraph, register_backend
from .pytorch import ExportedProgramBackend, load_package, program_dynamic_shapes


def float_program_path(package: Path) -> Path:
    return package.with_name(f"{package.stem}.float-program.pt2")


def compile_package(program, path: Path) -> None:
    import torch

    try:
        with torch.no_grad():  # inference: inductor folds the weights into the package as constants (freezing)
            torch._inductor.aoti_compile_and_package(
                program, package_path=str(path), inductor_configs={"freezing": True}
            )
    except (OSError, KeyboardInterrupt):
        raise
    except Exception as error:
        first = first_line(error)
        if "InvalidCxxCompiler" in (
            type(error).__name__,
            first.partition(":")[0],
        ):  # raised itself, or wrapped by inductor
            raise MissingDependencyError(
                "--format aot-inductor needs a working C++ compiler: install g++ or clang++, or set CXX to one"
            ) from error
        raise TraceError(f"AOTInductor could not compile the program: {first}") from error


class AotInductorBackend(ExportedProgramBackend):
    name = "aot-inductor"
    suffix = ".pt2"
    artifact = "AOTInductor package"
    runtime = "AOTInductor"
    engine = "torch.export + AOTInductor"
    quantizations = ("int8",)

    def _save(self, program, path: Path, options) -> None:
        import torch

        if options.quantize:
            torch.export.save(program, str(float_program_path(path)))
        compile_package(program, path)

    def load(self, exported: ExportedGraph):
        return load_package(exported.path, [exported.arguments[name] for name in exported.input_names])

    def quantize(self, exported: list[ExportedGraph], preset, calibration, weights=None, progress=None) -> None:
        import torch

        from ..optimize.program_int8 import quantize_program

        for index, graph in enumerate(exported):
            source = float_program_path(graph.path)
            program = torch.export.load(str(source))
            feeds = calibration[index] if index < len(calibration) else ()
            try:
                module = quantize_program(program, preset.smoothing, [self.arguments_of(graph, feed) for feed in feeds])
                example_args, example_kwargs = program.example_inputs
                quantized = torch.export.export(
                    module,
                    example_args,
                    kwargs=example_kwargs,
                    dynamic_shapes=program_dynamic_shapes(program),
                    strict=False,
                )
            except (OSError, KeyboardInterrupt):
                raise
            except Exception as error:
                first = first_line(error)
                raise TraceError(f"could not quantize {graph.path.name}: {first}; export without --quantize") from error
            del program, module
            compile_package(quantized, graph.path)
            source.unlink()

    def arguments_of(self, graph: ExportedGraph, feed: Mapping) -> dict:
        """A numpy feed by input name as the module's keyword tensors, in the traced precision."""
        return {graph.arguments[name]: tensor for name, tensor in self.tensors(graph, feed).items()}


register_backend(AotInductorBackend())
