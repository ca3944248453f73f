"""Client layouts (`--target`): where an export's files go for a client that loads folders by its own names. Each
target is data: a subfolder for the graphs, a name per graph role, a file-name suffix per quantization preset, how
external data is named, and what goes into config.json. `arrange` applies one to a staged export before its
manifest is written; the graphs, their validation and the manifest's contents are the same as without a target.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgumentError, did_you_mean
from ..tasks import WITH_PAST_SUFFIX
from .manifest import MERGED, MONOLITH


@dataclass(frozen=True)
class Target:
    name: str
    subfolder: str
    graph_names: dict[str, dict[str, str]]  # layout -> graph role -> file name without suffix (the layouts it runs)
    seq2seq_layouts: tuple[str, ...]  # the layouts it runs encoder-decoders in, the one it gets by default first
    dtypes: dict[str | None, tuple[str, str]]  # quantization preset (None: float) -> (client dtype, file-name suffix)
    external_data: str  # the data file's name, from the graph file's name
    config_key: str  # the entry of config.json the client reads its loading options from
    axis_names: dict[str, str]  # our dynamic axis name -> the client's, where it reads sizes from the names


TARGETS = {
    # Transformers.js 4 (`@huggingface/transformers`): graphs under onnx/, one per dtype, and the dtype it loads by
    # default named in config.json; external data beside each graph as `<graph file>_data`, which config.json must
    # declare for browsers to fetch it
    "transformers.js": Target(
        name="transformers.js",
        subfolder="onnx",
        graph_names={
            MONOLITH: {"model": "model"},
            MERGED: {"encoder": "encoder_model", "decoder": "decoder_model_merged"},
        },
        # an encoder-decoder always as the encoder and the merged decoder, never the seed's single graph
        seq2seq_layouts=(MERGED,),
        dtypes={
            None: ("fp32", ""),
            "int8": ("int8", "_int8"),
            "int8-dynamic": ("q8", "_quantized"),
            "int8-weight": ("q8", "_quantized"),
            "int4-weight": ("q4", "_q4"),
        },
        external_data="{file}_data",
        config_key="transformers.js_config",
        # it sizes the empty cache of the first step from the cache inputs' dims, knowing `batch_size` only (any
        # other name becomes 0)
        axis_names={"batch": "batch_size"},
    )
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise InvalidArgumentError(
            f"unknown target '{name}';{did_you_mean(name, TARGETS)} choose one of {', '.join(TARGETS)}"
        )
    return TARGETS[name]


def check_layout(target: Target, layout: str, feature: str, encoder_decoder: bool) -> None:
    """Refuse, before any work, a layout the target does not run."""
    if layout not in target.graph_names:
        raise InvalidArgumentError(
            f"--target {target.name} has no file names for the {layout} layout (it runs {', '.join(target.graph_names)}"
            "): export without --target"
        )
    if encoder_decoder and layout not in target.seq2seq_layouts:
        feature = feature if feature.endswith(WITH_PAST_SUFFIX) else feature + WITH_PAST_SUFFIX
        raise InvalidArgumentError(
            f"--target {target.name} runs encoder-decoders as the {' or '.join(target.seq2seq_layouts)} layout only: "
            f"use --feature {feature} without --layout"
        )


def arrange(
    folder: Path, manifest: dict, target: Target, quantize: str | None, keep: bool = False, float_graphs=None
) -> dict:
    """Move the graphs of the staged export in `folder` to the target's names, their external data with them (the
    location each graph records is rewritten); return the manifest with the new names. `keep`: copy them instead (the
    float graphs, before they are quantized in place). `float_graphs`: what arranging those copies returned; the
    manifest lists them under `float_graphs` (its `graphs` are the quantized ones, which our runtime reads)."""
    import shutil

    import onnx

    dtype, suffix = target.dtypes[quantize]
    names = target.graph_names[manifest["layout"]]
    (folder / target.subfolder).mkdir(exist_ok=True)
    graphs, external = {}, {}
    sharing = Counter(entry["external_data"] for entry in manifest["graphs"].values() if entry.get("external_data"))
    for file, entry in manifest["graphs"].items():
        name = f"{target.subfolder}/{names[entry.get('role', 'model')]}{suffix}.onnx"
        data = target.external_data.format(file=Path(name).name) if entry.get("external_data") else None
        model = onnx.load(str(folder / file), load_external_data=False)
        if data is not None and sharing[entry["external_data"]] > 1:
            # graphs of one export share a data file; the target gives each graph its own
            _copy_external_data(model, folder / entry["external_data"], folder / target.subfolder / data)
        for tensor in model.graph.initializer:
            for item in tensor.external_data:
                if item.key == "location":
                    item.value = data
        for value in (*model.graph.input, *model.graph.output, *model.graph.value_info):
            for dim in value.type.tensor_type.shape.dim:
                if dim.HasField("dim_param") and dim.dim_param in target.axis_names:  # a fixed size stays fixed
                    dim.dim_param = target.axis_names[dim.dim_param]
        onnx.save(model, str(folder / name))
        if not keep:
            (folder / file).unlink()
        if data is not None:
            if sharing[entry["external_data"]] == 1:
                move = shutil.copyfile if keep else os.replace
                move(folder / entry["external_data"], folder / target.subfolder / data)
            external[Path(name).name] = 1
        graphs[name] = {
            **_renamed_axes(entry, target.axis_names),
            "external_data": data and f"{target.subfolder}/{data}",
        }
    for shared in (file for file, count in sharing.items() if count > 1 and not keep):
        (folder / shared).unlink()
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    # the float graphs' data files stay declared beside the quantized ones'; the dtype loaded by default is the last
    external = {**config.get(target.config_key, {}).get("use_external_data_format", {}), **external}
    config[target.config_key] = {"dtype": dtype, **({"use_external_data_format": external} if external else {})}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    from .commit import staged_files
    from .manifest import MANIFEST

    arranged = {**manifest, "target": target.name, "graphs": graphs, "files": sorted({*staged_files(folder), MANIFEST})}
    if float_graphs is not None:
        arranged["float_graphs"] = float_graphs["graphs"]
    return arranged


def _renamed_axes(entry: dict, names: dict[str, str]) -> dict:
    """A manifest graph entry with its tensors' axis names as the target names them."""
    rename = lambda size: names.get(size, size) if isinstance(size, str) else size
    renamed = dict(entry)
    for side in ("inputs", "outputs"):
        renamed[side] = {
            tensor: {
                **info,
                **({"axes": {axis: rename(size) for axis, size in info["axes"].items()}} if "axes" in info else {}),
                **({"shape": [rename(size) for size in info["shape"]]} if "shape" in info else {}),
            }
            for tensor, info in entry.get(side, {}).items()
        }
    return renamed


def _copy_external_data(model, source: Path, destination: Path) -> None:
    """Copy the byte ranges of `source` that the initializers of `model` (loaded without its data) point at into
    `destination`, one tensor at a time, and point them there (the location is set by the caller)."""
    import shutil

    with open(source, "rb") as read, open(destination, "wb") as write:
        for tensor in model.graph.initializer:
            fields = {item.key: item.value for item in tensor.external_data}
            if "location" not in fields:
                continue
            offset, length = int(fields.get("offset", 0)), int(fields["length"])
            write.write(b"\0" * (-write.tell() % (4096 if length >= 1 << 20 else 64)))  # aligned as weights.py aligns
            start = write.tell()
            read.seek(offset)
            shutil.copyfileobj(_Range(read, length), write, 1 << 20)
            fields.update(offset=str(start), length=str(length))
            del tensor.external_data[:]
            for key, value in fields.items():
                tensor.external_data.add(key=key, value=value)


class _Range:
    """The next `length` bytes of a file, read in chunks."""

    def __init__(self, file, length: int):
        self.file, self.left = file, length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        chunk = self.file.read(size)
        self.left -= len(chunk)
        return chunk
