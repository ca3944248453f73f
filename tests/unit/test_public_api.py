"""Every public name resolves: the package's lazy API, the ONNX face and the seed's import paths."""

import importlib

import pytest

import transformers_export
from transformers_export import onnx as onnx_face


@pytest.mark.parametrize("name", transformers_export.__all__)
def test_lazy_api_name_resolves(name):
    assert getattr(transformers_export, name) is not None


@pytest.mark.parametrize("name", onnx_face.__all__)
def test_onnx_face_name_resolves(name):
    assert getattr(onnx_face, name) is not None


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError):
        transformers_export.no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        onnx_face.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "path, name",
    [
        ("transformers_export.features", "FeaturesManager"),
        ("transformers_export.models.bert", "BertOnnxConfig"),
        ("transformers_export.runtime", "OnnxModelForCausalLM"),
        ("transformers_export.formats.pytorch", "load"),
        ("transformers_export.cli", "run"),
    ],
)
def test_kept_public_paths(path, name):
    assert hasattr(importlib.import_module(path), name)


def test_seed_imports_with_the_package_renamed():
    # the seed's `from transformers.onnx import ...` lines, with transformers.onnx -> transformers_export.onnx
    from transformers_export.onnx import (  # noqa: F401
        FeaturesManager,
        OnnxConfig,
        OnnxConfigWithPast,
        OnnxSeq2SeqConfigWithPast,
        export,
        validate_model_outputs,
    )
    from transformers_export.config import OnnxConfig as config_class

    assert OnnxConfig is config_class
