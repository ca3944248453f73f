"""generate()'s arguments, resolved as transformers resolves them, into the settings the ONNX Runtime loops apply.

Priority, as in transformers: the call's keyword arguments, over the call's `generation_config`, over the folder's
generation config (`generation_config.json`, else the one transformers derives from `config.json`), over
transformers' global defaults. A setting that would change the tokens and that the loops do not apply is an error
naming it when the call sets it, and a warning when the folder's configuration does.
"""

from __future__ import annotations

import copy
import math
import json
import warnings
from pathlib import Path

from .rules import GenerationSettings, _as_list

# generation parameters the loops apply
APPLIED = frozenset(
    {
        "max_length",
        "max_new_tokens",
        "min_length",
        "min_new_tokens",
        "early_stopping",
        "do_sample",
        "num_beams",
        "temperature",
        "top_k",
        "top_p",
        "min_p",
        "repetition_penalty",
        "length_penalty",
        "no_repeat_ngram_size",
        "forced_bos_token_id",
        "forced_eos_token_id",
        "num_return_sequences",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "encoder_no_repeat_ngram_size",
        "decoder_start_token_id",
        "suppress_tokens",
        "begin_suppress_tokens",
        "return_dict_in_generate",
        "output_scores",
        "output_logits",
    }
)
# parameters that do not change which tokens come out (caching, compilation, bookkeeping, assistant-only knobs)
NO_EFFECT = frozenset(
    {
        "use_cache",
        "cache_implementation",
        "cache_config",
        "max_cache_len",
        "compile_config",
        "disable_compile",
        "transformers_version",
        "_from_model_config",
        "is_assistant",
        "num_assistant_tokens",
        "num_assistant_tokens_schedule",
        "assistant_confidence_threshold",
        "assistant_lookbehind",
        "target_lookbehind",
        "low_memory",
        "prefill_chunk_size",
        "continuous_batching_config",
        "output_attentions",
        "output_hidden_states",
        "remove_invalid_values",
    }
)
# arguments of ours, not of GenerationConfig
OWN = ("seed", "streamer", "generation_config")


def folder_generation_config(folder: Path):
    """The generation config transformers gives a model loaded from `folder`."""
    from transformers import AutoConfig, GenerationConfig, PreTrainedConfig

    folder = Path(folder)
    path = folder / "generation_config.json"
    source = path if path.is_file() else folder / "config.json"
    try:
        data = json.loads(source.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{source} is not valid JSON ({error}); export the model again or fix the file") from error
    if not isinstance(data, dict):
        raise ValueError(f"{source} must hold a JSON object")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if source == path:
            return GenerationConfig.from_dict(data)
        config = AutoConfig.from_pretrained(folder) if "model_type" in data else PreTrainedConfig.from_dict(data)
        return GenerationConfig.from_model_config(config)


def _global_defaults(config) -> dict:
    return config._get_default_generation_params()


def unapplied(config, among=None, also_applied=frozenset()) -> dict:
    """Settings of `config` (restricted to the names `among`) that change tokens and that the loops (or, for
    `also_applied`, the model class) do not apply."""
    neutral = _global_defaults(config)
    found = {}
    for name, value in config.to_dict().items():
        if name in APPLIED or name in NO_EFFECT or name in also_applied or (among is not None and name not in among):
            continue
        if value is not None and value != neutral.get(name) and value not in ((), [], {}):
            found[name] = value
    return found


def warn_about_unapplied(config, folder: Path, also_applied=frozenset()) -> None:
    found = unapplied(config, also_applied=also_applied)
    if found:
        settings = ", ".join(f"{name}={value!r}" for name, value in found.items())
        warnings.warn(
            f"{Path(folder) / 'generation_config.json'} sets {settings}, which this runtime does not apply; "
            "its tokens will differ from generate() with that configuration",
            stacklevel=3,
        )


def resolve(folder_config, generation_config=None, also_applied=frozenset(), **kwargs):
    """The GenerationConfig a `generate(generation_config=..., **kwargs)` call runs with."""
    from transformers import GenerationConfig

    known = set(GenerationConfig().to_dict())
    for name in kwargs:
        if name not in known:
            raise ValueError(
                f"generate() got an argument it cannot honour: '{name}' (it takes generation parameters such as "
                "max_new_tokens, num_beams, do_sample, temperature, top_k, top_p, plus generation_config, streamer, "
                "seed)"
            )
    if generation_config is not None and not isinstance(generation_config, GenerationConfig):
        raise ValueError(
            f"generation_config must be a transformers GenerationConfig, got {type(generation_config).__name__}"
        )
    length_is_default = (
        kwargs.get("max_length") is None
        and (generation_config is None or generation_config.max_length is None)
        and folder_config.max_length is None
    )
    resolved = copy.deepcopy(generation_config) if generation_config is not None else GenerationConfig()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GenerationConfig's own validation warnings repeat what the checks below say
        resolved.update(**folder_config.to_dict(), defaults_only=True, allow_custom_entries=True)
        resolved.update(**_global_defaults(folder_config), defaults_only=True)
        resolved.update(**kwargs)
    if length_is_default:  # not the global 20 in all: 20 new tokens, as generate() counts them (`new_tokens`)
        resolved.max_length = None
    from_call = set(kwargs) | (set(generation_config.to_diff_dict()) if generation_config is not None else set())
    refused = unapplied(resolved, among=from_call, also_applied=also_applied)
    if refused:
        name, value = next(iter(refused.items()))
        raise ValueError(
            f"generate() cannot honour {name}={value!r} in ONNX Runtime; leave it unset (supported: "
            f"{', '.join(sorted(APPLIED))})"
        )
    return resolved


def _positive(number) -> bool:
    return isinstance(number, (int, float)) and not isinstance(number, bool) and number > 0 and math.isfinite(number)


def _check_ranges(value) -> None:
    """Refuse what transformers' logits processors refuse, in their words, and what they take silently but cannot
    mean (no beams). A NaN is never in range."""
    sampling = bool(value("do_sample"))
    temperature, top_p, top_k, penalty = (
        value("temperature"),
        value("top_p"),
        value("top_k"),
        value("repetition_penalty"),
    )
    if sampling and temperature is not None and not _positive(temperature):
        hint = " If you're looking for greedy decoding strategies, set `do_sample=False`." if temperature == 0 else ""
        raise ValueError(
            f"`temperature` (={temperature}) has to be a strictly positive float, otherwise your next token scores "
            f"will be invalid.{hint}"
        )
    if sampling and top_p is not None and not (_positive(top_p) and top_p <= 1):
        raise ValueError(f"`top_p` has to be a float > 0 and < 1, but is {top_p}")
    if sampling and top_k is not None and not (isinstance(top_k, int) and top_k >= 0):
        raise ValueError(f"`top_k` has to be a strictly positive integer, but is {top_k}")
    if penalty is not None and not _positive(penalty):
        raise ValueError(f"`repetition_penalty` has to be a strictly positive float, but is {penalty}")
    for name in ("num_beams", "num_return_sequences"):
        count = value(name)
        if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
            raise ValueError(f"`{name}` has to be a strictly positive integer, but is {count}")


def settings_from(config, max_positions: int | None = None) -> GenerationSettings:
    """The loops' settings from a resolved GenerationConfig; special-token fallbacks as generate() makes them.
    `max_positions`: the model's `max_position_embeddings`, which caps the default length."""
    eos = _as_list(config.eos_token_id)
    pad = config.pad_token_id
    start = config.decoder_start_token_id
    defaults = _global_defaults(config)

    def value(name):
        found = getattr(config, name, None)
        return defaults.get(name) if found is None else found

    _check_ranges(value)
    return GenerationSettings(
        eos_token_id=eos,
        pad_token_id=pad if pad is not None else (eos[0] if eos else None),
        forced_bos_token_id=config.forced_bos_token_id,
        forced_eos_token_id=_as_list(config.forced_eos_token_id) or None,
        encoder_no_repeat_ngram_size=value("encoder_no_repeat_ngram_size") or 0,
        decoder_start_token_id=start if start is not None else config.bos_token_id,
        repetition_penalty=value("repetition_penalty") or 1.0,
        no_repeat_ngram_size=value("no_repeat_ngram_size") or 0,
        min_length=value("min_length") or 0,
        min_new_tokens=value("min_new_tokens") or 0,
        num_beams=value("num_beams") or 1,
        length_penalty=value("length_penalty"),
        early_stopping=value("early_stopping"),
        do_sample=bool(value("do_sample")),
        temperature=value("temperature"),
        top_k=value("top_k"),
        top_p=value("top_p"),
        min_p=config.min_p,
        num_return_sequences=value("num_return_sequences") or 1,
        max_length=config.max_length,
        max_new_tokens=config.max_new_tokens,
        max_positions=max_positions,
        suppress_tokens=_as_list(config.suppress_tokens),
        begin_suppress_tokens=_as_list(config.begin_suppress_tokens),
        return_dict_in_generate=bool(config.return_dict_in_generate),
        output_scores=bool(config.output_scores),
        output_logits=bool(config.output_logits),
    )
