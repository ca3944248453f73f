"""A model whose weights stay in the checkpoint.

The module tree is built without weights (parameters are created on the meta device, buffers are real), and every
parameter becomes a placeholder of its shape and dtype, zeros that hold no resident memory (see `placeholder`): a
trace sees the shapes and records the weights as graph inputs. Values are read from the safetensors files, one tensor
at a time and converted on the way, only when something needs them:

- the ONNX writer and the quantizer, each tensor once (`StreamedWeights.value`);
- a PyTorch forward for validation (`materialized`): each module's own weights are read before it runs and dropped
  after it returns, so a forward holds one module's weights plus activations, never the model.

Used for checkpoints whose weights are larger than `STREAM_ABOVE` at the export's precision; smaller ones are loaded,
which is faster for them and covers checkpoints whose tensor names transformers converts while loading.
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import struct
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

logger = logging.getLogger(__name__)

# Above this many bytes of weights at the export's precision the model is streamed instead of loaded.
STREAM_ABOVE = 2 * 1024**3
_MAPPED_FROM = 1 << 20  # smaller placeholders are plain zeros (norms, biases): a mapping each would cost more
# address space without a commitment: Python 3.12 names the flag; 0x4000 is its value on Linux
_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)
SINGLE_FILE, INDEX = "model.safetensors", "model.safetensors.index.json"


# safetensors' dtype names -> torch dtypes, for the ones checkpoints of float models hold
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
    "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}  # fmt: skip


class CheckpointTensors:
    """The tensors of a folder's safetensors file(s), known from their headers and read one at a time.

    Tensors are read with plain reads at the offsets the header gives, into memory the caller may reuse: a memory
    map would keep every page read resident in this process until it is unmapped, and a fresh allocation per tensor
    costs a page fault per 4 KB every time a forward reads the model again.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        if (folder / INDEX).is_file():
            files = sorted(set(json.loads((folder / INDEX).read_text())["weight_map"].values()))
        else:
            files = [SINGLE_FILE]
        self.file_of: dict[str, str] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, torch.dtype] = {}
        self.offsets: dict[str, int] = {}
        for file in files:
            with open(folder / file, "rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
            for key, entry in header.items():
                if key == "__metadata__":
                    continue
                if entry["dtype"] not in _DTYPES:
                    raise ValueError(f"{file}: tensor '{key}' has dtype {entry['dtype']}, which is not a float model's")
                begin, end = entry["data_offsets"]
                self.file_of[key], self.shapes[key], self.dtypes[key] = (
                    file,
                    tuple(entry["shape"]),
                    _DTYPES[entry["dtype"]],
                )
                self.offsets[key] = 8 + length + begin
                if end - begin != math.prod(entry["shape"]) * self.dtypes[key].itemsize:
                    raise ValueError(f"{file}: tensor '{key}' has {end - begin} bytes for shape {entry['shape']}")

    def count(self) -> int:
        """How many values the checkpoint holds."""
        return sum(math.prod(shape) for shape in self.shapes.values())

    @staticmethod
    def present(folder: Path) -> bool:
        return (folder / INDEX).is_file() or (folder / SINGLE_FILE).is_file()

    def read(self, key: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """The tensor in its stored dtype, into `out` (contiguous, of its shape and dtype) when given."""
        if out is None:
            out = torch.empty(self.shapes[key], dtype=self.dtypes[key])
        view = memoryview(out.view(-1).view(torch.uint8).numpy()) if out.numel() else memoryview(b"")
        with open(self.folder / self.file_of[key], "rb", buffering=0) as handle:
            handle.seek(self.offsets[key])
            done = 0
            while done < view.nbytes:
                read = handle.readinto(view[done:])
                if not read:
                    raise ValueError(f"{self.file_of[key]} ends inside tensor '{key}'; the file is truncated")
                done += read
        return out


def placeholder(shape, dtype) -> torch.nn.Parameter:
    """A contiguous tensor of zeros in a private anonymous mapping: reading it maps the kernel's shared zero page, so
    it costs address space, not resident memory. (A stride-0 `zeros(()).expand(shape)` costs nothing either, but
    sends half-precision matmuls to a scalar loop: 8 s instead of 0.14 s for one projection of an 8B MLP.)"""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < _MAPPED_FROM:
        return torch.nn.Parameter(torch.zeros(tuple(shape), dtype=dtype), requires_grad=False)
    try:
        region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _NORESERVE)
    except OSError:  # strict overcommit refuses the address space: a stride-0 placeholder still traces, slowly
        return torch.nn.Parameter(torch.zeros((), dtype=dtype).expand(tuple(shape)), requires_grad=False)
    values = torch.frombuffer(region, dtype=dtype).view(tuple(shape))  # keeps `region` mapped while it lives
    return torch.nn.Parameter(values, requires_grad=False)


@contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Parameters are created on the meta device (no memory, no initialisation cost); buffers stay real, since
    rotary tables and position ids are computed in `__init__` and are not in the checkpoint."""
    original = torch.nn.Module.register_parameter

    def register(module, name, parameter):
        if parameter is not None and parameter.device.type != "meta":
            parameter = torch.nn.Parameter(parameter.to("meta"), requires_grad=False)
        original(module, name, parameter)

    torch.nn.Module.register_parameter = register
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


class StreamedWeights:
    """Which checkpoint tensor each placeholder of `model` stands for, and its value on demand."""

    def __init__(self, model: torch.nn.Module, tensors: CheckpointTensors, keys: dict[str, str]):
        self.tensors = tensors
        self.key_of: dict[int, str] = {}
        for name, parameter in model.named_parameters():
            self.key_of[id(parameter)] = keys[name]
        self.bytes = sum(p.numel() * p.element_size() for p in model.parameters())

    def value(self, parameter: torch.Tensor, buffers: _Buffers | None = None) -> torch.Tensor:
        """The value of a placeholder, in the placeholder's dtype; in memory taken from `buffers` when given (the
        caller gives it back)."""
        key = self.key_of[id(parameter)]
        stored_dtype = self.tensors.dtypes[key]
        if buffers is None:
            stored = self.tensors.read(key)
            return stored if stored_dtype == parameter.dtype else stored.to(parameter.dtype)
        value = buffers.take(parameter.shape, parameter.dtype)
        if stored_dtype == parameter.dtype:
            return self.tensors.read(key, value)
        stored = buffers.take(parameter.shape, stored_dtype)
        try:
            value.copy_(self.tensors.read(key, stored))
        finally:
            buffers.give(stored)
        return value

    def streams(self, parameter: torch.Tensor) -> bool:
        return id(parameter) in self.key_of


def checkpoint_keys(model: torch.nn.Module, tensors: CheckpointTensors) -> dict[str, str] | str:
    """Parameter name -> checkpoint key, or why the checkpoint's names do not map one to one (then it is loaded)."""
    prefix = getattr(model, "base_model_prefix", "") or ""
    keys = {}
    for name, parameter in model.named_parameters():
        candidates = [name]
        if prefix:
            candidates += [name.removeprefix(f"{prefix}."), f"{prefix}.{name}"]
        key = next((c for c in candidates if c in tensors.shapes), None)
        if key is None:
            return f"'{name}' is not in the checkpoint under that name"
        if tensors.shapes[key] != tuple(parameter.shape):
            return f"'{key}' has shape {tensors.shapes[key]} in the checkpoint, {tuple(parameter.shape)} in the model"
        keys[name] = key
    return keys


def build_streamed(model_class, config, dtype: torch.dtype, tensors: CheckpointTensors):
    """(model with placeholders, its StreamedWeights), or (None, reason) when the checkpoint cannot be streamed."""
    from transformers import GenerationConfig
    from transformers.initialization import no_init_weights

    from .precision import to_dtype_in_place

    folder = tensors.folder
    with _parameters_on_meta(), no_init_weights():
        model = model_class.from_config(config)
    keys = checkpoint_keys(model, tensors)
    if isinstance(keys, str):
        return None, keys
    to_dtype_in_place(model, dtype)  # the buffers, as a loaded model's
    replaced: dict[int, torch.nn.Parameter] = {}  # tied parameters stay one object
    for module in model.modules():
        for attribute, parameter in module._parameters.items():
            if parameter is not None:
                if id(parameter) not in replaced:
                    replaced[id(parameter)] = placeholder(parameter.shape, dtype)
                module._parameters[attribute] = replaced[id(parameter)]
    if (folder / "generation_config.json").is_file() and model.can_generate():
        model.generation_config = GenerationConfig.from_pretrained(folder)
    return model.eval(), StreamedWeights(model, tensors, keys)


class _Buffers:
    """Memory for the weights of the modules that are running, reused from one module to the next: a forward of a
    large model reads gigabytes, and fresh allocations would fault every page in again each time."""

    def __init__(self):
        self.free: list[torch.Tensor] = []  # flat byte buffers
        self.lent: dict[int, torch.Tensor] = {}  # data pointer of a lent view -> its buffer
        self.held = self.peak = 0  # bytes of the buffers, now and at most

    def take(self, shape, dtype: torch.dtype) -> torch.Tensor:
        nbytes = math.prod(shape) * dtype.itemsize
        fitting = [index for index, buffer in enumerate(self.free) if buffer.numel() >= nbytes]
        if fitting:
            buffer = self.free.pop(min(fitting, key=lambda index: self.free[index].numel()))
        else:  # the free buffers are all too small: they go, so that what is held follows the largest weight
            self.held -= sum(buffer.numel() for buffer in self.free)
            self.free.clear()
            buffer = torch.empty(max(nbytes, 1), dtype=torch.uint8)
            self.held += buffer.numel()
            self.peak = max(self.peak, self.held)
        view = buffer[:nbytes].view(dtype).view(tuple(shape))
        self.lent[view.data_ptr()] = buffer
        return view

    def give(self, view: torch.Tensor) -> None:
        self.free.append(self.lent.pop(view.data_ptr()))


@contextmanager
def materialized(model: torch.nn.Module, weights: StreamedWeights) -> Iterator[None]:
    """While inside, a forward of `model` reads each module's own weights from the checkpoint just before the module
    runs and drops them when it returns (hooks on every module that owns parameters)."""
    handles = []
    buffers = _Buffers()

    def before(module, _args):
        for attribute, parameter in module._parameters.items():
            if parameter is not None and weights.streams(parameter):
                value = weights.value(parameter, buffers)
                module._parameters[attribute] = torch.nn.Parameter(value, requires_grad=False)
                module._streamed_placeholders[attribute] = parameter  # only once there is a buffer to give back

    def after(module, _args, _output):
        for attribute, placeholder in module._streamed_placeholders.items():
            buffers.give(module._parameters[attribute])
            module._parameters[attribute] = placeholder
        module._streamed_placeholders.clear()

    for module in model.modules():
        if any(p is not None and weights.streams(p) for p in module._parameters.values()):
            module._streamed_placeholders = {}
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after, always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module in model.modules():
            if hasattr(module, "_streamed_placeholders"):
                module._parameters.update(module._streamed_placeholders)
                del module._streamed_placeholders
        buffers.free.clear()
