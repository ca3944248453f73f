"""Client layouts (`--target`): where an export's files go for a client that loads folders by its own names. Each
target is data: a subfolder for the graphs, a name per graph role, a file-name suffix per quantization preset, how
external data is named, and what goes into config.json. `arrange` applies one to a staged export before its
manifest is written; the graphs, their validation and the manifest's contents are the same as without a target.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgumentError, did_you_mean


@dataclass(frozen=True)
class Target:
    name: str
    subfolder: str
    graph_names: dict[str, str]  # graph role -> file name without suffix
    dtypes: dict[str | None, tuple[str, str]]  # quantization preset (None: float) -> (client dtype, file-name suffix)
    external_data: str  # the data file's name, from the graph file's name
    config_key: str  # the entry of config.json the client reads its loading options from
    refusal: str  # why a layout with more than one graph is not written for it
    axis_names: dict[str, str]  # our dynamic axis name -> the client's, where it reads sizes from the names


TARGETS = {
    # Transformers.js 4 (`@huggingface/transformers`): graphs under onnx/, one per dtype, and the dtype it loads by
    # default named in config.json; external data beside each graph as `<graph file>_data`, which config.json must
    # declare for browsers to fetch it
    "transformers.js": Target(
        name="transformers.js",
        subfolder="onnx",
        graph_names={"model": "model"},
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
        refusal="Transformers.js runs encoder-decoders from encoder_model.onnx and a merged decoder "
        "(decoder_model_merged.onnx) that this exporter does not write yet; export without --target, or a "
        "single-graph feature",
    )
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise InvalidArgumentError(
            f"unknown target '{name}';{did_you_mean(name, TARGETS)} choose one of {', '.join(TARGETS)}"
        )
    return TARGETS[name]


def check_layout(target: Target, roles) -> None:
    """Refuse, before any work, a layout the target has no names for."""
    if any(role not in target.graph_names for role in roles):
        raise InvalidArgumentError(f"--target {target.name}: {target.refusal}")


def arrange(folder: Path, manifest: dict, target: Target, quantize: str | None) -> dict:
    """Move the graphs of the staged export in `folder` to the target's names, their external data with them (the
    location each graph records is rewritten); return the manifest with the new names."""
    import onnx

    dtype, suffix = target.dtypes[quantize]
    (folder / target.subfolder).mkdir(exist_ok=True)
    graphs, external = {}, {}
    for file, entry in manifest["graphs"].items():
        name = f"{target.subfolder}/{target.graph_names[entry.get('role', 'model')]}{suffix}.onnx"
        data = target.external_data.format(file=Path(name).name) if entry.get("external_data") else None
        model = onnx.load(str(folder / file), load_external_data=False)
        for tensor in model.graph.initializer:
            for item in tensor.external_data:
                if item.key == "location":
                    item.value = data
        for value in (*model.graph.input, *model.graph.output, *model.graph.value_info):
            for dim in value.type.tensor_type.shape.dim:
                if dim.HasField("dim_param") and dim.dim_param in target.axis_names:  # a fixed size stays fixed
                    dim.dim_param = target.axis_names[dim.dim_param]
        onnx.save(model, str(folder / name))
        (folder / file).unlink()
        if data is not None:
            os.replace(folder / entry["external_data"], folder / target.subfolder / data)
            external[Path(name).name] = 1
        graphs[name] = {
            **_renamed_axes(entry, target.axis_names),
            "external_data": data and f"{target.subfolder}/{data}",
        }
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config[target.config_key] = {"dtype": dtype, **({"use_external_data_format": external} if external else {})}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    from .commit import staged_files
    from .manifest import MANIFEST

    return {**manifest, "target": target.name, "graphs": graphs, "files": sorted({*staged_files(folder), MANIFEST})}


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
