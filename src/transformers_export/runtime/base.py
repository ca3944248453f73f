"""Exported ONNX folders opened as transformers models: one class per task, returning transformers' own outputs.

`OnnxModelForSequenceClassification.from_pretrained(folder)` reads `export.json`, opens the graph with the caller's
provider, session options and thread count, and is called like the PyTorch model: NumPy or torch inputs by keyword,
a `ModelOutput` back (torch tensors when the inputs were torch tensors, NumPy arrays otherwise). `config`, `device`,
`dtype`, `generation_config`, `can_generate()`, `to("cpu")` and `eval()` are there because `transformers.pipeline()`
uses them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import CheckpointError, first_line
from ..output.manifest import Manifest, read_manifest
from ..tasks import get_task, task_of
from .inputs import (
    INPUT_DEFAULTS,
    NUMPY_TYPES,
    InputSpec,
    as_numpy,
    check_input,
    check_shared_axes,
    is_torch,
    like_inputs,
)
from .output_classes import output_class_for
from .session import open_session, run_session


# inputs a PyTorch forward fills in when left out: (the input whose shape they take, value)
_CLASS_OF_TASK: dict[str, type] = {}


class _OwnClassesAreSupported:
    """Drops the error pipelines log when a model's class is not one of transformers' (they run it all the same):
    our classes are meant to be there."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("The model 'OnnxModelFor")


def _quiet_pipeline_class_check() -> None:
    import logging

    logger = logging.getLogger("transformers.pipelines.base")
    if not any(isinstance(existing, _OwnClassesAreSupported) for existing in logger.filters):
        logger.addFilter(_OwnClassesAreSupported())


def class_for_feature(feature: str) -> type:
    """The `OnnxModelFor*` class that opens exports of `feature`."""
    task = task_of(get_task(feature).name)
    if task not in _CLASS_OF_TASK:
        raise ValueError(f"no model class opens '{feature}' exports")
    return _CLASS_OF_TASK[task]


OPEN_ATTEMPTS = 3


def _read_config(folder: Path):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(folder)
    except RecursionError as error:
        raise CheckpointError(f"{folder / 'config.json'} nests too deeply to be a model's config") from error
    except (OSError, ValueError, KeyError, TypeError) as error:  # missing, not JSON, an unknown or mistyped field
        raise CheckpointError(f"cannot read {folder / 'config.json'}: {first_line(error)}") from error


class OnnxModel:
    """Base of the `OnnxModelFor*` classes: one exported folder, opened in ONNX Runtime."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for task in cls.__dict__.get("tasks", ()):
            get_task(task)  # a misspelt task fails at import
            _CLASS_OF_TASK[task] = cls

    tasks: tuple[str, ...] = ()  # the export features (without -with-past) this class opens
    output_classes: tuple[str, ...] = ()  # names in transformers.modeling_outputs, most usual first
    main_input_name = "input_ids"
    generates = False  # whether the class has generate(): its exports carry the cache (`-with-past`)

    def __init__(self, folder: str | Path, provider=None, session_options=None, threads: int | None = None):
        self.folder = Path(folder)
        self.name_or_path = str(self.folder)
        for _ in range(OPEN_ATTEMPTS):
            self.manifest = read_manifest(folder)
            self._check_feature(self.manifest)
            self.config = _read_config(self.folder)
            self.base_model_prefix = self.config.model_type
            self._open(provider, session_options, threads)
            if self.manifest.unchanged():  # no export was committed into the folder while it was being opened
                break
        else:
            raise CheckpointError(
                f"the export in '{self.folder}' was replaced {OPEN_ATTEMPTS} times while it was being opened; "
                "open it once the export into it has finished"
            )
        _quiet_pipeline_class_check()

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        provider=None,
        session_options=None,
        threads: int | None = None,
        export: bool = False,
        feature: str | None = None,
        cache_dir: str | Path | None = None,
        **export_options,
    ):
        """Open an exported folder. `provider`: an ONNX Runtime execution provider name (or list); `threads`:
        intra-op threads. With `export=True`, `folder` may be a checkpoint: it is exported (for `feature`, by default
        this class's task, with the cache when it generates; `export_options` as `export_model`'s) into `cache_dir`
        (default ~/.cache/transformers-export/exports), once, and that export is opened."""
        if export and not (Path(folder) / "export.json").is_file():
            from .on_the_fly import exported_folder

            feature = feature or cls.tasks[0] + ("-with-past" if cls.generates else "")
            folder = exported_folder(str(folder), feature, cache_dir, **export_options)
        elif export_options or feature or cache_dir:
            given = sorted([*export_options, *(["feature"] if feature else []), *(["cache_dir"] if cache_dir else [])])
            raise TypeError(
                f"from_pretrained() got unexpected argument(s): {', '.join(given)} (they go with export=True)"
            )
        return cls(folder, provider=provider, session_options=session_options, threads=threads)

    def save_pretrained(self, target: str | Path) -> Path:
        """Write this export (its graphs, weights, config and preprocessor files) into the folder `target`."""
        from ..output.copy import copy_export

        return copy_export(self.manifest, target)

    @classmethod
    def _check_feature(cls, manifest: Manifest) -> None:
        if manifest.format != "onnx":
            raise ValueError(
                f"'{manifest.folder}' holds a {manifest.format} export; these classes run ONNX exports "
                "(load TorchScript / torch.export programs with transformers_export.formats.pytorch.load)"
            )
        task = task_of(manifest.feature)
        if cls.tasks and task not in cls.tasks:
            raise ValueError(
                f"'{manifest.folder}' was exported for '{manifest.feature}'; open it with "
                f"{class_for_feature(manifest.feature).__name__}, not {cls.__name__}, or export the checkpoint again "
                f"with --feature {cls.tasks[0]}"
            )

    def _open(self, provider, session_options, threads) -> None:
        graph = self.manifest.role("model")
        self.session = open_session(self.folder / graph.file, provider, session_options, threads)
        self.graph_inputs = {item.name: NUMPY_TYPES.get(item.type) for item in self.session.get_inputs()}
        self.output_names = [item.name for item in self.session.get_outputs()]
        self.pruned_inputs = set(self.manifest.data["graphs"][graph.file].get("pruned_inputs", []))
        self.input_specs = self._input_specs(graph)

    def _input_specs(self, graph) -> dict[str, InputSpec]:
        limits = {"input_ids": self.vocab_size, "decoder_input_ids": self.vocab_size}
        limits["token_type_ids"] = getattr(self.config, "type_vocab_size", None)
        return {
            item.name: InputSpec(
                item.name,
                tuple(item.shape),
                graph.inputs[item.name].axes if item.name in graph.inputs else {},
                np.issubdtype(NUMPY_TYPES.get(item.type) or np.float32, np.integer),
                limits.get(item.name),
            )
            for item in self.session.get_inputs()
        }

    @property
    def vocab_size(self) -> int | None:
        """The size of the token vocabulary: ids at or above it are refused before they reach the graph."""
        size = getattr(self.config.get_text_config(), "vocab_size", None)
        return size if isinstance(size, int) and size > 0 else None

    # what transformers' pipelines expect of a model
    @property
    def device(self):
        import torch

        return torch.device("cpu")

    @property
    def dtype(self):
        import torch

        return torch.float32

    def to(self, device=None, *args, **kwargs):
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(
                f"{type(self).__name__} runs in ONNX Runtime; choose its device with provider=, not .to({device!r})"
            )
        return self

    def eval(self):
        return self

    def can_generate(self) -> bool:
        return self.generates

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.folder)!r}, feature={self.manifest.feature!r})"

    # running the graph
    def feed(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The graph's feed: inputs checked by name, converted to the graph's types; inputs the exporter pruned
        (unused by the model) and `None`s are dropped."""
        feed = {}
        for name, value in inputs.items():
            if (
                value is None
                or name in self.pruned_inputs
                or name in ("return_dict", "output_attentions", "output_hidden_states", "use_cache")
            ):
                continue
            if name not in self.graph_inputs:
                if self._forward_ignores(name):
                    continue
                raise ValueError(
                    f"{type(self).__name__} got an unexpected input '{name}'; the graph takes: "
                    f"{', '.join(self.graph_inputs)}"
                )
            array = as_numpy(name, value)
            if name in self.input_specs:
                array = check_input(self.input_specs[name], array)
            feed[name] = array.astype(self.graph_inputs[name], copy=False) if self.graph_inputs[name] else array
        check_shared_axes(feed, self.input_specs)
        for name, (source, fill) in INPUT_DEFAULTS.items():
            if name in self.graph_inputs and name not in feed and source in feed:
                # what the PyTorch forward assumes when the argument is left out
                shape = (
                    feed[source].shape if source != "pixel_values" else feed[source].shape[:1] + feed[source].shape[2:]
                )
                feed[name] = np.full(shape, fill, dtype=self.graph_inputs[name] or np.int64)
        missing = [name for name in self.graph_inputs if name not in feed]
        missing = [name for name in missing if name not in INPUT_DEFAULTS] or missing  # defaults follow from these
        if missing:
            raise ValueError(
                f"{type(self).__name__} is missing input(s) {', '.join(missing)}; the graph takes: "
                f"{', '.join(self.graph_inputs)}"
            )
        return feed

    def _forward_ignores(self, name: str) -> bool:
        """Whether the PyTorch model's forward takes `name` (by name or through **kwargs) although the graph does not:
        YOLOS takes and ignores the `pixel_mask` its image processor makes. Such inputs are dropped, as the model
        drops them."""
        import inspect

        import transformers

        model_class = getattr(transformers, self.manifest.data.get("model_class") or "", None)
        if model_class is None:
            return False
        parameters = inspect.signature(model_class.forward).parameters
        return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return run_session(self.session, self.output_names, feed)

    def wrap(self, outputs: Mapping[str, np.ndarray], torch_inputs: bool):
        from transformers import modeling_outputs

        preferred = tuple(getattr(modeling_outputs, name) for name in self.output_classes)
        output_class = output_class_for(outputs, preferred, self.config.model_type)
        values = {name: like_inputs(value, torch_inputs) for name, value in outputs.items()}
        return output_class(**values) if dataclasses.is_dataclass(output_class) else output_class(values)

    def forward(self, *args, **inputs):
        if args:  # positional inputs in the graph's order, as a PyTorch forward takes them
            names = list(self.graph_inputs)
            if len(args) > len(names):
                raise ValueError(
                    f"{type(self).__name__} takes at most {len(names)} positional inputs ({', '.join(names)})"
                )
            inputs = {**dict(zip(names, args)), **inputs}
        torch_inputs = any(is_torch(value) for value in inputs.values())
        return self.wrap(self.run(self.feed(inputs)), torch_inputs)
