"""Seed-compatible import paths: `from transformers_export.models.<model_type> import <Name>Config, <Name>OnnxConfig`.

The modules are made on import from the architecture registry (underscored model type, e.g. `xlm_roberta`), so every
registered architecture has its path and none is a copied file.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types


class _ModelModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    prefix = __name__ + "."

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(self.prefix) or "." in fullname[len(self.prefix) :]:
            return None
        if self._spec(fullname) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=False)

    def _spec(self, fullname):
        from ..architectures import find_spec

        return find_spec(fullname[len(self.prefix) :])

    def create_module(self, spec):
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        from ..config import onnx_config_class

        spec = self._spec(module.__name__)
        classes = {onnx_config_class(spec, task) for task in ("default", "causal-lm")}
        try:  # transformers' own configuration class too, as the seed's walk-through imports both from this path
            from transformers import CONFIG_MAPPING

            classes.add(CONFIG_MAPPING[spec.model_type])
        except KeyError:
            pass
        for config_class in classes:
            setattr(module, config_class.__name__, config_class)
        module.__all__ = sorted(config_class.__name__ for config_class in classes)


if not any(isinstance(finder, _ModelModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(_ModelModuleFinder())
