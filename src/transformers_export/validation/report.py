"""The comparison of an export's outputs with PyTorch's, and the report every format prints.

`ValidationReport` collects one `ShapeRun` per input shape (or decoding step) and never raises; callers decide. Its
lines follow the seed's `-[✓]` / `-[x]` wording, with the format's own names ("ONNX model" / "ONNX Runtime",
"TorchScript model" / "TorchScript", "ExportedProgram" / "torch.export").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# Default relative term of the tolerance, as a fraction of the output's largest magnitude. PyTorch's own float32
# rounding error (measured against float64) is about 1e-6 of the largest logit for Llama-shaped models from 2 to 12
# layers; scaling one MLP weight matrix of one layer by 1 + 1e-3 moves the logits by 1e-4 of it and more.
RTOL = 5e-5


@dataclass(frozen=True)
class Tolerance:
    """|export - torch| <= atol + rtol * max|torch|, per output; or, with `min_cosine` (quantized graphs), the lowest
    per-example cosine similarity to PyTorch."""

    atol: float
    rtol: float = RTOL
    min_cosine: float | None = None

    def bound(self, reference: np.ndarray) -> float:
        magnitude = float(np.abs(reference).max()) if reference.size else 0.0
        return self.atol + self.rtol * magnitude


@dataclass
class OutputCheck:
    name: str
    reference_shape: list[int]
    onnx_shape: list[int]  # the export's shape (the seed's word)
    max_abs_diff: float | None
    atol: float
    values_ok: bool = False
    rtol: float = 0.0
    magnitude: float = 0.0  # max |PyTorch| of the output
    # quantized graphs: judged by the lowest per-example cosine similarity to PyTorch instead of `atol`
    min_cosine: float | None = None
    cosine: float | None = None
    dtype: str | None = None
    reference_finite: bool = True  # PyTorch's own output has no NaN or infinity

    @property
    def shape_ok(self) -> bool:
        return self.reference_shape == self.onnx_shape

    def describe_bound(self) -> str:
        if not self.rtol:
            return f"atol {self.atol:g}"
        bound = self.atol + self.rtol * self.magnitude
        return f"atol {self.atol:g} + rtol {self.rtol:g} × max |PyTorch| {self.magnitude:.3g} = {bound:.3g}"


@dataclass
class ShapeRun:
    sizes: dict[str, int]
    reference_names: list[str]
    actual_names: list[str]
    outputs: list[OutputCheck] = field(default_factory=list)
    runtime_error: str | None = None
    graph: str = ""  # the file, when an export has several
    actual: dict = field(default_factory=dict, repr=False)  # the export's outputs, for the next decode step

    @property
    def names_ok(self) -> bool:
        return set(self.actual_names) == set(self.reference_names)

    @property
    def passed(self) -> bool:
        return self.runtime_error is None and self.names_ok and all(c.shape_ok and c.values_ok for c in self.outputs)


@dataclass
class ValidationReport:
    atol: float
    rtol: float = RTOL
    runs: list[ShapeRun] = field(default_factory=list)
    artifact: str = "ONNX model"  # as the seed's lines name it
    runtime: str = "ONNX Runtime"
    # TorchScript traces that only run at their traced shape: (batch, sequence) they were traced at, else None
    specialized_to: dict | None = None

    def _where(self, run: ShapeRun) -> str:
        where = ", ".join(f"{axis}={size}" for axis, size in run.sizes.items())
        if _named(run.graph):
            where = f"{where} of {run.graph}"
        return where

    @property
    def error(self) -> str | None:
        """The first failure as one sentence, or None when everything matched."""
        for run in self.runs:
            where = self._where(run)
            if run.runtime_error and not run.sizes:
                return f"{self.runtime} could not load {run.graph}: {run.runtime_error}"
            if run.runtime_error:
                return f"{self.runtime} failed on inputs {where}: {run.runtime_error}"
            if not run.names_ok:
                missing = sorted(set(run.reference_names) - set(run.actual_names))
                extra = sorted(set(run.actual_names) - set(run.reference_names))
                return (
                    f"output names of the {self.artifact} do not match the reference model's (inputs {where}): "
                    f"missing {missing}, unexpected {extra}"
                )
            for check in run.outputs:
                if not check.shape_ok:
                    return (
                        f"output '{check.name}' has shape {tuple(check.onnx_shape)} in the {self.artifact} but "
                        f"{tuple(check.reference_shape)} in PyTorch (inputs {where})"
                    )
                if not check.values_ok and not check.reference_finite:
                    return (
                        f"PyTorch's own output '{check.name}' holds NaN or infinity (inputs {where}), so there is "
                        "nothing to compare the export with; at --dtype fp16 the model overflows: export in fp32"
                    )
                if not check.values_ok and check.min_cosine is not None:
                    return (
                        f"output '{check.name}' of the quantized graph is too far from PyTorch's: cosine similarity "
                        f"{check.cosine:.4f} < {check.min_cosine:g} (inputs {where}); try another --quantize preset, "
                        "a lower --min-cosine if that is close enough, or no --quantize"
                    )
                if not check.values_ok:
                    return (
                        f"output '{check.name}' of the {self.artifact} differs from PyTorch: max abs diff "
                        f"{check.max_abs_diff:.3g} > {check.describe_bound()} (inputs {where}); if the difference is "
                        "acceptable, pass a larger --atol"
                    )
        return None

    @property
    def passed(self) -> bool:
        return self.error is None

    def lines(self) -> list[str]:
        """The seed's validation log, once per validation shape."""
        lines = []
        for run in self.runs:
            where = ", ".join(f"{axis}={size}" for axis, size in run.sizes.items())
            graph = f" {run.graph}" if _named(run.graph) else ""
            lines.append(
                f"Validating {self.artifact}{graph}... (inputs {where})" if run.sizes else f"Loading {run.graph}..."
            )
            names = set(run.actual_names)
            if run.runtime_error:
                lines.append(f"\t-[x] {self.runtime} failed: {run.runtime_error}")
                continue
            if run.names_ok:
                lines.append(f"\t-[✓] {self.artifact} output names match reference model ({names})")
            else:
                lines.append(
                    f"\t-[x] {self.artifact} output names {names} do not match reference model "
                    f"{set(run.reference_names)}"
                )
            for check in run.outputs:
                lines.append(f'\t- Validating {self.artifact.replace("model", "Model")} output "{check.name}":')
                onnx_shape, ref_shape = tuple(check.onnx_shape), tuple(check.reference_shape)
                if not check.shape_ok:
                    lines.append(f"\t\t-[x] shape {onnx_shape} doesn't match {ref_shape}")
                    continue
                lines.append(f"\t\t-[✓] {onnx_shape} matches {ref_shape}")
                if check.min_cosine is not None:
                    mark = "✓] values similar" if check.values_ok else "x] values not similar enough"
                    lines.append(
                        f"\t\t-[{mark} (cosine similarity: {check.cosine:.4f}, minimum {check.min_cosine:g}; "
                        f"max abs diff: {check.max_abs_diff:.3g})"
                    )
                    continue
                mark = "✓] all values close" if check.values_ok else "x] values not close enough"
                relative = f", rtol: {check.rtol:g} of max |PyTorch| {check.magnitude:.3g}" if check.rtol else ""
                lines.append(f"\t\t-[{mark} (atol: {check.atol:g}{relative}, max abs diff: {check.max_abs_diff:.3g})")
        return lines

    def output_shapes(self, graph: str) -> dict[str, list[int]]:
        """Output name -> the export's shape in the first run of `graph` that has them."""
        for run in self.runs:
            if run.graph == graph and run.outputs:
                return {check.name: check.onnx_shape for check in run.outputs}
        return {}

    def output_dtypes(self, graph: str) -> dict[str, str]:
        """Output name -> dtype as the export produced it, from the first run of `graph` that has them."""
        for run in self.runs:
            if run.graph == graph and run.outputs:
                return {check.name: check.dtype for check in run.outputs}
        return {}

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "atol": self.atol,
            "rtol": self.rtol,
            "error": self.error,
            "specialized_to": self.specialized_to,
            "runs": [
                {
                    "graph": run.graph,
                    "sizes": run.sizes,
                    "outputs": {
                        check.name: {"shape": check.onnx_shape, "max_abs_diff": check.max_abs_diff}
                        | ({"cosine": check.cosine} if check.min_cosine is not None else {})
                        for check in run.outputs
                    },
                }
                for run in self.runs
            ],
        }


def _named(graph: str) -> bool:
    """Whether the report names the graph: every graph but a lone model.onnx / model.pt / model.pt2."""
    return bool(graph) and not re.fullmatch(r"model\.\w+", graph)


def runtime_message(error: Exception) -> str:
    text = " ".join(str(error).split())
    # "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Reshape node. Name:'...' ..."
    return text[:300]


def compare(name: str, reference: np.ndarray, actual: np.ndarray, tolerance: Tolerance) -> OutputCheck:
    check = OutputCheck(
        name,
        list(reference.shape),
        list(actual.shape),
        None,
        tolerance.atol,
        min_cosine=tolerance.min_cosine,
        dtype=str(actual.dtype),
        rtol=tolerance.rtol,
    )
    if check.shape_ok:
        check.reference_finite = not np.issubdtype(reference.dtype, np.floating) or bool(np.isfinite(reference).all())
        diff = np.abs(reference.astype(np.float64) - actual.astype(np.float64))
        check.max_abs_diff = float(np.nanmax(diff)) if diff.size else 0.0
        if np.isnan(diff).any():
            check.max_abs_diff = float("nan")
        if tolerance.min_cosine is None:
            check.magnitude = float(np.abs(reference).max()) if reference.size else 0.0
            check.values_ok = bool(check.max_abs_diff <= tolerance.bound(reference))  # False for NaN
        else:
            check.cosine = _lowest_cosine(reference, actual)
            check.values_ok = bool(check.cosine >= tolerance.min_cosine)
    return check


def _lowest_cosine(reference: np.ndarray, actual: np.ndarray) -> float:
    """The lowest cosine similarity between matching examples (first axis) of two outputs; NaN counts as 0."""
    if reference.size == 0:
        return 1.0
    rows = max(reference.shape[0], 1) if reference.ndim else 1
    expected = reference.astype(np.float64).reshape(rows, -1)
    got = actual.astype(np.float64).reshape(rows, -1)
    norms = np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1)
    # an all-zero example on both sides (an empty cache row, a masked output) is identical
    both_zero = (np.linalg.norm(expected, axis=1) == 0) & (np.linalg.norm(got, axis=1) == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = np.where(both_zero, 1.0, (expected * got).sum(axis=1) / norms)
    return float(np.nan_to_num(cosines, nan=0.0).min())
