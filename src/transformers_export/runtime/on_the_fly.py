"""`from_pretrained(checkpoint, export=True)`: export a checkpoint into a cache folder, once, and open that.

The runtime's one door to the exporter (the architecture rules allow this module alone to import the pipeline),
imported only when `export=True` is asked for, so that opening exported folders never needs torch."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..output.manifest import MANIFEST


def default_cache() -> Path:
    root = os.environ.get("TRANSFORMERS_EXPORT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "transformers-export"
    )
    return Path(root) / "exports"


def _fingerprint(checkpoint: str, feature: str, options: dict) -> str:
    """What the export depends on: the checkpoint (its path, and each file's size and time), the feature, the
    options and this version. A checkpoint saved again gets a new export; an unchanged one reuses its export."""
    from .. import __version__

    source = Path(checkpoint)
    files = []
    if source.is_dir():
        files = sorted(
            (path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in source.iterdir() if path.is_file()
        )
    key = [str(source.resolve()) if source.exists() else checkpoint, feature, sorted(options.items()), files]
    return hashlib.sha256(json.dumps([*key, __version__], default=str).encode()).hexdigest()[:16]


def exported_folder(checkpoint: str, feature: str, cache_dir: str | os.PathLike | None = None, **options) -> Path:
    """The folder holding `checkpoint`'s export for `feature`: made now, or found from an earlier call."""
    from ..pipeline import export_model

    name = Path(str(checkpoint).rstrip("/")).name or "model"
    folder = Path(cache_dir or default_cache()) / f"{name}-{feature}-{_fingerprint(str(checkpoint), feature, options)}"
    if not (folder / MANIFEST).is_file():  # an export commits export.json last: a folder without it is not done
        export_model(str(checkpoint), folder, feature=feature, **options)
    return folder
