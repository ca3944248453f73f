"""An exported folder written elsewhere (the runtime classes' `save_pretrained`): the files `export.json` lists and
`export.json` itself, through the same staging and commit as an export, so a failed copy leaves the target as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .manifest import MANIFEST, Manifest
from .staging import check_output, staged_output


def copy_export(manifest: Manifest, target: str | os.PathLike) -> Path:
    """Copy the export `manifest` describes into `target`; return `target`. Copying a folder onto itself is a no-op."""
    target = Path(target)
    if target.exists() and target.resolve() == manifest.folder.resolve():
        return target
    check_output(target, manifest.folder)
    with staged_output(target) as staging:
        for name in manifest.data["files"]:
            if name != MANIFEST:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(manifest.folder / name, staging / name)
        shutil.copy2(manifest.folder / MANIFEST, staging / MANIFEST)  # last: the export is complete once it is there
    return target
