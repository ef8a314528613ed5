"""Shared fixtures: an isolated cache for every test, the optional ../shared data, one tiny
trained run per session, and fake NVIDIA modules for the pickle importer (plain helpers are in
``tests/helpers.py``)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from ganvas.metrics.inception import InceptionV3FID

from tests.helpers import SHARED_DATA, TINY, train_once


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets a private cache folder, so nothing leaks between tests or into ~."""
    if "GANVAS_CACHE" not in os.environ or os.environ.get("GANVAS_TEST_SHARED_CACHE") is None:
        monkeypatch.setenv("GANVAS_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` when it exists; the test is skipped otherwise."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-second DCGAN run (32 px, z_dim 16), trained once for all explore tests."""
    return train_once(tmp_path_factory, "explore", kimg=0.032, **TINY)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "code-was-executed"


@pytest.fixture
def nvidia_modules(monkeypatch: pytest.MonkeyPatch, marker: Path) -> types.SimpleNamespace:
    """Fake ``torch_utils.persistence`` and ``dnnlib.util`` with NVIDIA's pickling behaviour."""

    def _reconstruct_persistent_obj(meta: dict) -> object:  # what NVIDIA's loader does
        exec(meta["module_src"], {})  # noqa: S102 - the danger the importer must avoid
        raise AssertionError("unreachable in these tests")

    class EasyDict(dict):
        pass

    modules = {}
    for name, attrs in {"torch_utils": {}, "dnnlib": {"EasyDict": EasyDict},
                        "torch_utils.persistence": {"_reconstruct_persistent_obj":
                                                    _reconstruct_persistent_obj},
                        "dnnlib.util": {"EasyDict": EasyDict}}.items():
        module = types.ModuleType(name)
        for attr, value in attrs.items():
            value.__module__, value.__qualname__ = name, attr
            setattr(module, attr, value)
        modules[name] = module
        monkeypatch.setitem(sys.modules, name, module)
    source = f"open({str(marker)!r}, 'w').write('pwned')\n"

    class Persistent:
        """Pickles like a ``@persistence.persistent_class`` instance of ``module``."""

        def __init__(self, module: nn.Module, class_name: str, init_kwargs: dict):
            self.module, self.class_name, self.init_kwargs = module, class_name, init_kwargs

        def __reduce__(self) -> tuple:
            state = dict(self.module.__dict__)
            state["_modules"] = {name: Persistent(child, type(child).__name__, {})
                                 for name, child in self.module._modules.items()}
            state.update(_init_args=(), _init_kwargs=self.init_kwargs)
            meta = dict(type="class", version=6, module_src=source,
                        class_name=self.class_name, state=state)
            return _reconstruct_persistent_obj, (meta,)

    return types.SimpleNamespace(Persistent=Persistent, EasyDict=EasyDict)


@pytest.fixture(scope="session")
def random_inception() -> InceptionV3FID:
    """Inception-v3 with random weights, scaled (He init) so features are O(0.1) and differ
    between images; PyTorch's default init would shrink them to ~1e-8 and make every comparison
    vacuous. Tests use it with a 75 px input."""
    torch.manual_seed(0)
    net = InceptionV3FID().eval()
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    net.weights_id = "random-test"
    return net
