"""The quantization presets: which scheme rewrites the matrix products and the embedding lookups, as data.

Measured on all-MiniLM-L6-v2 and Llama-shaped decoders in `benchmarks/RESULTS.md` ("Quantization presets").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    # How `MatMul(x, W)` with a constant 2-D W is rewritten:
    #   per-tensor: W int8 per column; x quantized on the fly with one scale for the whole tensor (ONNX Runtime's
    #               DynamicQuantizeLinear), after SmoothQuant (`smoothing`) moved x's outlier channels into W. Without
    #               smoothing an outlier anywhere in x coarsens every value.
    #   blocks:     ONNX Runtime's MatMulNBits: W stored in blocks of `block_size` along K with a scale each; x
    #               quantized to int8 per block inside the kernel (`accuracy_level` 4), which uses VNNI/AMX.
    matmul: str
    # How `Gather(E, ids)` of a constant float table is rewritten: per-tensor uint8, per-row int8, or kept float.
    gather: str
    # The scheme for products that contract more channels than they produce (K > N: the FFN's down-projection),
    # whose input (after GELU/SiLU) has the outliers; None: `matmul`'s.
    wide: str | None = None
    bits: int = 8
    block_size: int = 0
    symmetric: bool = True  # blocks: a zero point per block (asymmetric) or none
    smoothing: float = 0.0  # SmoothQuant's alpha; 0 = none
    min_cosine: float = 0.99  # default lowest accepted cosine similarity to PyTorch, per example and output
    summary: str = ""

    @property
    def needs_calibration(self) -> bool:
        return self.smoothing > 0


PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            "int8",
            matmul="per-tensor",
            gather="per-row",
            wide="blocks",
            block_size=128,
            smoothing=0.6,
            summary="int8 weights, per-tensor int8 activations after SmoothQuant, FFN down-projections in int8 blocks; "
            "the encoder preset",
        ),
        Preset(
            "int8-dynamic",
            matmul="per-tensor",
            gather="per-tensor",
            min_cosine=0.95,
            summary="int8 weights, per-tensor int8 activations (ONNX Runtime's dynamic scheme); fastest, least "
            "accurate",
        ),
        Preset(
            "int8-weight",
            matmul="blocks",
            gather="per-row",
            bits=8,
            block_size=128,
            summary="int8 weight blocks of 128 (MatMulNBits), no calibration; the decoder preset",
        ),
        Preset(
            "int4-weight",
            matmul="blocks",
            gather="per-row",
            bits=4,
            block_size=32,
            symmetric=False,
            min_cosine=0.9,
            summary="int4 weight blocks of 32 with a zero point each (MatMulNBits); the smallest, for decoders",
        ),
    )
}
QUANTIZATIONS = tuple(PRESETS)


def calibration_texts() -> list[str]:
    """English sentences written for this package (shipped in `data/`), disjoint from any benchmark's text."""
    from importlib.resources import files

    return [
        line for line in files(__package__).joinpath("data/calibration.txt").read_text().splitlines() if line.strip()
    ]
