"""Loading a checkpoint: its config and its weights (PyTorch or TensorFlow), with one-line errors.

`plan.resolve` calls these in order, cheapest first, so an unknown model type or an unsupported feature fails in a
fraction of a second.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path

from ..architectures import get_spec
from ..errors import CheckpointError, InvalidArgumentError, UnsupportedModelError, first_line
from .hub import hub_options, hub_reachable, hub_snapshot
from .precision import to_dtype_in_place
from ..tasks import auto_class, get_task
from .tf_checkpoint import TF_WEIGHTS, convert_tf_checkpoint, has_only_tf_weights

logger = logging.getLogger(__name__)

# what the hub accepts as a model id: `name` or `owner/name`, no leading dot; anything else is a path
_HUB_ID = re.compile(r"^(?![.~])[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")


def local_folder(model: str) -> Path | None:
    path = Path(model)
    if path.is_file():
        raise CheckpointError(f"'{model}' is a file; --model takes a checkpoint folder or a hub model id")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"no config.json in '{model}'; point --model at a folder written by save_pretrained")
        return path
    if not _HUB_ID.match(model):
        raise CheckpointError(f"no such folder: '{model}' (and it is not a hub model id either)")
    return None


def load_config(model: str, cache_dir: str | None = None):
    from transformers import AutoConfig

    folder = local_folder(model)
    if folder is not None:
        try:
            raw = json.loads((folder / "config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CheckpointError(f"config.json in '{model}' is not valid JSON: {first_line(error)}") from error
        except RecursionError as error:
            raise CheckpointError(f"config.json in '{model}' is nested too deeply to be a model config") from error
        if not isinstance(raw, dict) or "model_type" not in raw:
            raise CheckpointError(f"config.json in '{model}' has no 'model_type'; it was not written by transformers")
        if not isinstance(raw["model_type"], str):
            raise CheckpointError(
                f"config.json in '{model}' has a 'model_type' of type {type(raw['model_type']).__name__}; it must be "
                "a string"
            )
        _check_shard_index(folder)
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        if raw["model_type"] not in CONFIG_MAPPING_NAMES:
            get_spec(raw["model_type"])  # raises with the supported list when we do not know it either
            raise UnsupportedModelError(
                f"model type '{raw['model_type']}' is unknown to the installed transformers; upgrade transformers"
            )
    try:
        return AutoConfig.from_pretrained(model, **hub_options(model, cache_dir))
    except OSError as error:
        if folder is not None:
            raise CheckpointError(f"cannot read the config in '{model}': {first_line(error)}") from error
        unreachable = hub_reachable()
        if unreachable:
            raise CheckpointError(
                f"'{model}' is not a local folder, is not in the download cache, and the hub cannot be reached: "
                f"{unreachable}"
            ) from error
        raise CheckpointError(
            f"'{model}' is not a local folder and could not be fetched from the hub: {first_line(error)}"
        ) from error
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        raise CheckpointError(f"cannot read the config of '{model}': {first_line(error)}") from error


_SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _check_shard_index(folder: Path) -> None:
    """Refuse a sharded-weights index whose file names leave the checkpoint folder (`../../etc/passwd`, `/etc/x`).
    Names are checked, not where they resolve: the hub cache links each shard of a snapshot to a blob elsewhere."""
    for index_name in _SHARD_INDEXES:
        index = folder / index_name
        if not index.is_file():
            continue
        try:
            files = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as error:
            raise CheckpointError(f"{index_name} in '{folder}' is not a valid weights index") from error
        for name in sorted(files, key=str):
            normal = os.path.normpath(name) if isinstance(name, str) and name.strip() else ".."
            if os.path.isabs(normal) or normal == ".." or normal.startswith(".." + os.sep):
                raise CheckpointError(
                    f"{index_name} in '{folder}' points outside the folder ('{name}'); refusing to read it"
                )


def load_streamed(model: str, feature: str, config, dtype: str = "float32", cache_dir: str | None = None):
    """(model with placeholder weights, its `StreamedWeights`) for a safetensors checkpoint (a folder, or a hub id's
    files in the download cache) whose weights are above `streamed.STREAM_ABOVE` at `dtype` and whose tensor names
    are the model's; None otherwise (then it is loaded). See `streamed.py`."""
    import torch

    from .streamed import INDEX, SINGLE_FILE, STREAM_ABOVE, CheckpointTensors, build_streamed

    files = ["config.json", "generation_config.json", INDEX, SINGLE_FILE, "model-*-of-*.safetensors"]
    folder = local_folder(model) or hub_snapshot(model, cache_dir, files)
    if folder is None or not CheckpointTensors.present(folder):
        return None
    try:
        tensors = CheckpointTensors(folder)
    except Exception as error:  # a damaged header: the loader reports it in its own words
        logger.debug("not streaming %s: %s", folder, first_line(error))
        return None
    element_size = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    if tensors.count() * element_size <= STREAM_ABOVE:
        return None
    if feature == "causal-lm-with-past":
        config.is_decoder = True  # as load_model
    built, weights = build_streamed(auto_class(get_task(feature)), config, getattr(torch, dtype), tensors)
    if built is None:
        logger.info("loading the model instead of streaming its weights: %s", weights)
        return None
    logger.info("streaming %.1f GB of weights from %s one tensor at a time", weights.bytes / 1e9, folder)
    return built, weights


def load_model(
    model: str,
    feature: str,
    cache_dir: str | None = None,
    framework: str | None = None,
    config=None,
    dtype: str = "float32",
):
    """The model for `feature`, in `dtype` (a torch dtype name), whatever precision the checkpoint is stored in."""
    if framework not in (None, "pt", "tf"):
        raise InvalidArgumentError(f"--framework must be 'pt' or 'tf', got '{framework}'")
    folder = local_folder(model)
    task = get_task(feature)
    model_class = auto_class(task)
    if feature == "causal-lm-with-past":
        # A causal LM with a cache is a decoder: encoder classes with an LM head (BERT, RoBERTa, ...) return a cache
        # and mask causally only with `is_decoder`; decoder-only classes ignore it.
        from transformers import AutoConfig

        config = config if config is not None else AutoConfig.from_pretrained(model, **hub_options(model, cache_dir))
        config.is_decoder = True
    if framework == "tf" or (folder is not None and has_only_tf_weights(folder)):
        if folder is None:
            raise CheckpointError(f"TensorFlow checkpoints are read from local folders; download '{model}' first")
        with tempfile.TemporaryDirectory(prefix="tf-checkpoint-") as converted:
            logger.info("reading TensorFlow weights from %s into PyTorch", folder / TF_WEIGHTS)
            convert_tf_checkpoint(folder, converted)
            return _from_pretrained(model_class, converted, config, cache_dir, feature, dtype)
    return _from_pretrained(model_class, model, config, cache_dir, feature, dtype)


def _from_pretrained(model_class, model, config, cache_dir, feature, dtype="float32"):
    import torch

    try:
        # mismatched shapes are collected and reported by name below instead of transformers' "see the above report"
        # loaded in the checkpoint's own precision, then widened one tensor at a time: loading a bf16 checkpoint
        # as fp32 directly holds both copies of the weights at once
        loaded, info = model_class.from_pretrained(
            model,
            config=config,
            **hub_options(model, cache_dir),
            dtype="auto",
            output_loading_info=True,
            ignore_mismatched_sizes=True,
        )
        to_dtype_in_place(loaded, getattr(torch, dtype))
    except Exception as error:  # OSError, ValueError, and safetensors' and torch.load's own types on corrupt files
        raise CheckpointError(f"cannot load the weights of '{model}': {first_line(error)}") from error
    mismatched = info.get("mismatched_keys") or []
    if mismatched:
        name, *shapes = sorted(mismatched)[0]
        found, expected = (tuple(shape) for shape in shapes) if len(shapes) == 2 else ("?", "?")
        raise CheckpointError(
            f"the weights of '{model}' do not fit its config.json: '{name}' has shape {found} in the checkpoint but "
            f"the config makes it {expected} ({len(mismatched)} tensor(s) differ)"
        )
    missing = info.get("missing_keys") or []
    parameters = {name for name, _ in loaded.named_parameters()}
    if parameters and parameters <= set(missing):
        # a weightless checkpoint would export a randomly initialised model, and validation could not tell: it
        # compares against that same random model
        unexpected = len(info.get("unexpected_keys") or [])
        found = f"its {unexpected} tensor(s) have other names" if unexpected else "it holds no tensors"
        raise CheckpointError(
            f"the checkpoint '{model}' holds none of the {len(parameters)} weights of {type(loaded).__name__} "
            f"({found}); pass the folder with the trained weights"
        )
    if missing:
        logger.warning(
            "%d weight(s) of %s were not in the checkpoint and are randomly initialised (e.g. %s); "
            "the exported '%s' head is untrained",
            len(missing),
            type(loaded).__name__,
            sorted(missing)[0],
            feature,
        )
    return loaded.eval()
