"""Read NVIDIA stylegan2-ada-pytorch network pickles without running any code from them.

Those pickles store each network as a "persistent object": the *source code* of its module
(``meta['module_src']``), which ``torch_utils.persistence`` would ``exec``, plus the object's
``__dict__`` (parameters, buffers, sub-modules, constructor kwargs). Tensors go through
``torch.storage._load_from_bytes``, which calls ``torch.load`` without ``weights_only``. Loading
such a file with ``pickle.load`` can therefore run arbitrary code.

Here the unpickler resolves only an explicit allow-list of names: containers, tensor rebuilds
(storages are read with ``torch.load(weights_only=True)``), numpy scalars/arrays, ``EasyDict``,
and the persistent-object hook, which is replaced by one that merely *records* the state and
never looks at ``module_src``. Anything else is refused with a :class:`GanvasError`.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganvas.errors import GanvasError
from ganvas.models.stylegan2.import_kwargs import discriminator_kwargs, generator_kwargs

NETWORK_KEYS = ("G", "D", "G_ema")


class _Refused(Exception):
    """A global the pickle asked for that is not on the allow-list."""


@dataclass
class PersistentRecord:
    """What a persistent object would have become: its class name and ``__dict__``."""

    class_name: str
    state: dict


class _EasyDict(dict):
    """Stands in for ``dnnlib.EasyDict`` (a dict with attribute access); data only."""


def _record_persistent_obj(meta: Any) -> PersistentRecord:
    """Replacement for ``torch_utils.persistence._reconstruct_persistent_obj``: keep the state,
    ignore ``module_src`` (never executed, never imported)."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise ValueError("malformed persistent object")
    state = meta.get("state")
    if not isinstance(state, dict) or not isinstance(meta.get("class_name"), str):
        raise ValueError("persistent object without a class name and state")
    return PersistentRecord(meta["class_name"], state)


def _load_storage(data: bytes) -> Any:
    """Safe ``torch.storage._load_from_bytes``: a storage, through torch's weights-only loader."""
    if not isinstance(data, bytes):
        raise ValueError("storage data is not bytes")
    storage = torch.load(io.BytesIO(data), weights_only=True)
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise ValueError("storage bytes do not hold a storage")
    return storage


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple,
                    *_ignored: Any) -> Tensor:
    """``torch._utils._rebuild_tensor_v2`` without requires_grad, backward hooks or metadata."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise ValueError("tensor without a storage")
    return torch._utils._rebuild_tensor_v2(storage, offset, tuple(size), tuple(stride), False,
                                           OrderedDict())


def _rebuild_parameter(data: Any, *_ignored: Any) -> Tensor:
    """A parameter's data (requires_grad and hooks dropped): only values are imported."""
    if not isinstance(data, Tensor):
        raise ValueError("parameter without tensor data")
    return data


def _numpy_multiarray() -> Any:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


_MULTIARRAY = _numpy_multiarray()
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch", "Size"): torch.Size,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _record_persistent_obj,
}
for _numpy_module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_numpy_module, "scalar")] = _MULTIARRAY.scalar
    _ALLOWED[(_numpy_module, "_reconstruct")] = _MULTIARRAY._reconstruct


class _AllowListUnpickler(pickle.Unpickler):
    """Resolves globals from the allow-list only; refuses everything else by name."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def _read_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return _AllowListUnpickler(f).load()
    except _Refused as exc:
        raise GanvasError(f"{path}: refused to load {exc} from the pickle: only network weights "
                          "and settings are read, never code or other objects") from None
    except OSError as exc:
        raise GanvasError(f"{path}: cannot read the network pickle ({exc.strerror})") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle can fail in many ways
        raise GanvasError(f"{path}: not a readable network pickle ({type(exc).__name__}: "
                          f"{exc})") from None


def _state_dict(record: PersistentRecord, prefix: str = "") -> dict[str, Tensor]:
    """Flatten a recorded module tree into ``{dotted.name: tensor}`` like ``state_dict()``."""
    state = record.state
    skipped = set(state.get("_non_persistent_buffers_set") or ())
    tensors = dict(state.get("_parameters") or {})
    tensors.update((k, v) for k, v in (state.get("_buffers") or {}).items() if k not in skipped)
    flat: dict[str, Tensor] = {}
    for name, value in tensors.items():
        if value is None:
            continue
        if not isinstance(value, Tensor):
            raise ValueError(f"{prefix}{name} is not a tensor")
        flat[prefix + name] = value.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise ValueError(f"{prefix}{name} is not a network module")
        flat.update(_state_dict(child, f"{prefix}{name}."))
    return flat


def _init_kwargs(record: PersistentRecord) -> dict:
    if record.state.get("_init_args"):
        raise ValueError(f"{record.class_name} was built with positional arguments")
    kwargs = record.state.get("_init_kwargs")
    if not isinstance(kwargs, dict):
        raise ValueError(f"{record.class_name} has no constructor arguments")
    return kwargs


def _network(data: dict, key: str, class_name: str) -> PersistentRecord:
    record = data.get(key)
    if not isinstance(record, PersistentRecord) or record.class_name != class_name:
        raise ValueError(f"'{key}' is not a stylegan2-ada-pytorch {class_name}")
    return record


def import_network_pickle(path: str | Path) -> dict:
    """Read a stylegan2-ada-pytorch ``network-snapshot-*.pkl`` safely.

    Returns ``{"G": state_dict, "D": state_dict, "G_ema": state_dict, "kwargs": {"G": ...,
    "D": ...}, "training_set_kwargs": dict | None}``, where ``Generator(**kwargs["G"])`` loads
    ``G`` and ``G_ema`` and ``Discriminator(**kwargs["D"])`` loads ``D`` with ``strict=True``.
    Conditional networks and architectures ganvas does not implement raise :class:`GanvasError`.
    """
    path = Path(path)
    data = _read_pickle(path)
    try:
        if not isinstance(data, dict):
            raise ValueError("the pickle does not hold a dict of networks")
        records = {key: _network(data, key, "Discriminator" if key == "D" else "Generator")
                   for key in NETWORK_KEYS}
        kwargs = {"G": generator_kwargs(_init_kwargs(records["G_ema"])),
                  "D": discriminator_kwargs(_init_kwargs(records["D"]))}
        if generator_kwargs(_init_kwargs(records["G"])) != kwargs["G"]:
            raise ValueError("G and G_ema have different architectures")
        result: dict[str, Any] = {key: _state_dict(rec) for key, rec in records.items()}
    except ValueError as exc:
        raise GanvasError(f"{path}: {exc}") from None
    training_set = data.get("training_set_kwargs")
    result["kwargs"] = kwargs
    result["training_set_kwargs"] = dict(training_set) if isinstance(training_set, dict) else None
    return result
