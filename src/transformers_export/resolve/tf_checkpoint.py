"""TensorFlow checkpoints (`tf_model.h5`) read into the matching PyTorch model, without TensorFlow.

transformers 4's TF classes saved Keras weights whose names follow one scheme:
`<model scope>/<module path with layer_._0 for layer.0>/<kernel|bias|gamma|beta|embeddings|weight>:0`. Each name is
mapped to a PyTorch parameter or buffer name of the architecture in `config.json` (dense kernels transposed, conv
kernels permuted, gamma/beta to LayerNorm weight/bias, embeddings to weight). The result goes through transformers'
own `from_pretrained` (which renames transformers 4 names to today's modules), and loading is strict: every PyTorch
tensor gets a value (tied weights through their tie) and every h5 tensor is used, or `CheckpointError` lists the gaps.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, MissingDependencyError, UnsupportedModelError, first_line

TF_WEIGHTS = "tf_model.h5"
TF_SHARD_INDEX = "tf_model.h5.index.json"  # transformers 4's sharded TF checkpoints: not read here
_LEAF_NAMES = {"kernel": "weight", "gamma": "weight", "beta": "bias", "embeddings": "weight"}
_PREPROCESSOR_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "preprocessor_config.json",
    "processor_config.json",
    "generation_config.json",
    "added_tokens.json",
)


def read_h5_weights(path: Path) -> dict[str, np.ndarray]:
    """Keras weight name (without `:0`) -> array, for every weight of every layer in the file."""
    try:
        import h5py
    except ImportError as error:
        raise MissingDependencyError("reading tf_model.h5 needs h5py: pip install h5py") from error
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise CheckpointError(
            f"'{path}' is not a readable HDF5 file ({error}); is it a TensorFlow checkpoint?"
        ) from error
    weights = {}
    with handle:
        if "layer_names" not in handle.attrs:
            raise CheckpointError(f"'{path}' is HDF5 but not a Keras weights file (no layer_names)")
        for layer in handle.attrs["layer_names"]:
            group = handle[_text(layer)]
            for name in group.attrs.get("weight_names", []):
                name = _text(name)
                weights[name.removesuffix(":0")] = np.asarray(group[name])
    return weights


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pytorch_name(tf_name: str) -> str:
    """A TF variable name as the PyTorch parameter name:
    `tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel`
    -> `bert.encoder.layer.0.attention.self.query.weight`."""
    parts = tf_name.replace("_._", "/").split("/")
    if len(parts) > 1:
        parts = parts[1:]  # the Keras model scope (tf_bert_model, shared, ...)
    parts[-1] = _LEAF_NAMES.get(parts[-1], parts[-1])
    return ".".join(parts)


def _to_pytorch_layout(tf_name: str, array: np.ndarray, shape: tuple) -> np.ndarray | None:
    if tf_name.endswith("kernel"):
        if array.ndim == 2:
            array = array.T
        elif array.ndim == 4:  # Conv2D (kh, kw, in, out) -> (out, in, kh, kw)
            array = array.transpose(3, 2, 0, 1)
        elif array.ndim == 3:  # Conv1D (k, in, out) -> (out, in, k)
            array = array.transpose(2, 1, 0)
    if tuple(array.shape) == tuple(shape):
        return array
    if array.size == int(np.prod(shape)) and sum(d != 1 for d in array.shape) == sum(d != 1 for d in shape):
        return array.reshape(shape)  # e.g. GPT-2's (1, n) biases
    return None


def pytorch_state(model, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyTorch-named arrays. Names the model has get its exact shapes; the others keep transformers 4's names (what
    TF and PyTorch checkpoints shared), which `from_pretrained` renames to the current modules itself."""
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    prefix = getattr(model, "base_model_prefix", "")
    state = {}
    for tf_name, array in weights.items():
        name = pytorch_name(tf_name)
        candidates = [name, name.split(".", 1)[-1], f"{prefix}.{name}" if prefix else name]
        target = next((candidate for candidate in candidates if candidate in shapes), name)
        shape = shapes.get(target) or _legacy_shape(tf_name, array)
        value = _to_pytorch_layout(tf_name, array, shape)
        if value is None:
            raise CheckpointError(f"tensor {tf_name} has shape {tuple(array.shape)}; {target} needs {shape}")
        if target in state and not np.array_equal(state[target], value):
            raise CheckpointError(f"two different values for {target} (one from {tf_name})")
        state[target] = np.ascontiguousarray(value)
    return state


def _legacy_shape(tf_name: str, array: np.ndarray) -> tuple:
    order = {2: (1, 0), 3: (2, 1, 0), 4: (3, 2, 0, 1)}.get(array.ndim) if tf_name.endswith("kernel") else None
    return tuple(array.shape[axis] for axis in order) if order else tuple(array.shape)


def load_strictly(folder: Path, model_class, source: Path):
    """`from_pretrained` on the converted folder, failing on any missing, unexpected or mis-shaped tensor."""
    try:
        model, info = model_class.from_pretrained(folder, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{source}: {first_line(error)}") from error
    problems = []
    for key, label in (
        ("missing_keys", "no value for"),
        ("unexpected_keys", "unused h5 tensors for"),
        ("mismatched_keys", "wrong shapes for"),
    ):
        names = sorted(str(name) for name in info.get(key) or [])
        if names:
            problems.append(f"{label} {len(names)} tensor(s), e.g. {', '.join(names[:4])}")
    if problems:
        raise CheckpointError(f"{source}: {'; '.join(problems)}")
    return model.eval()


def convert_tf_checkpoint(folder: str | Path, output: str | Path):
    """Write a PyTorch checkpoint (`model.safetensors` + config + preprocessor files) for a TF checkpoint folder."""
    import tempfile

    import torch
    import transformers
    from safetensors.torch import save_file

    folder, output = Path(folder), Path(output)
    h5 = folder / TF_WEIGHTS
    if not h5.is_file() and (folder / TF_SHARD_INDEX).is_file():
        raise CheckpointError(
            f"'{folder}' holds a sharded TensorFlow checkpoint ({TF_SHARD_INDEX}), which is read only as one "
            f"{TF_WEIGHTS}; save it unsharded, or as PyTorch weights, with transformers 4 and TensorFlow"
        )
    if not h5.is_file():
        raise CheckpointError(f"no {TF_WEIGHTS} in '{folder}'")
    config = transformers.AutoConfig.from_pretrained(folder)
    architectures = getattr(config, "architectures", None) or []
    class_name = architectures[0].removeprefix("TF") if architectures else None
    model_class = getattr(transformers, class_name, None) if class_name else None
    if model_class is None:
        raise UnsupportedModelError(
            f"cannot tell which PyTorch class '{folder}/config.json' describes (architectures: {architectures})"
        )
    state = pytorch_state(model_class(config), read_h5_weights(h5))
    with tempfile.TemporaryDirectory() as staging:
        config.save_pretrained(staging)
        save_file({name: torch.from_numpy(value) for name, value in state.items()}, f"{staging}/model.safetensors")
        model = load_strictly(Path(staging), model_class, h5)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    for name in _PREPROCESSOR_FILES:
        if (folder / name).is_file() and not (output / name).exists():
            shutil.copy2(folder / name, output / name)
    return model


def has_only_tf_weights(folder: Path) -> bool:
    names = {path.name for path in folder.iterdir()}
    has_pt = any(name.endswith((".safetensors", ".bin")) for name in names)
    return bool({TF_WEIGHTS, TF_SHARD_INDEX} & names) and not has_pt


__all__ = ["convert_tf_checkpoint", "has_only_tf_weights", "pytorch_name", "pytorch_state", "read_h5_weights"]
