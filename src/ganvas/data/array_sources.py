"""Sources that hold decoded arrays: MNIST-style idx files and CIFAR-10 python batches.

Their images are already pixels, so items are uint8 arrays (H×W grey or H×W×3), not file bytes.
CIFAR batches are pickles; they are loaded with an unpickler that only builds containers and
numpy arrays, so a downloaded "dataset" cannot run code.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ganvas.data.idx import read_idx
from ganvas.data.sources import Entry, Payload, Source
from ganvas.errors import GanvasError


def _idx_header(path: Path) -> tuple[int, ...]:
    """Shape declared in an idx file's header, without reading the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] or head[1]:
                raise GanvasError(f"{path}: not an idx file (bad magic number)")
            dims = f.read(4 * head[3])
    except (OSError, EOFError) as exc:
        raise GanvasError(f"{path}: cannot read idx file ({exc})") from None
    return tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(len(dims) // 4))


def idx_labels_path(images: Path) -> Path | None:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    candidate = images.with_name(name)
    return candidate if candidate.exists() and candidate != images else None


class IdxSource(Source):
    """MNIST-style ``*-images-idx3-ubyte[.gz]`` files, labels from the matching labels file."""

    kind = "idx"

    def __init__(self, path: Path, files: list[Path]) -> None:
        super().__init__(path)
        self._files = files
        self._cache: tuple[int, np.ndarray] | None = None

    def _list(self) -> list[Entry]:
        entries_per_file = []
        all_labels: list[np.ndarray] | None = []
        for f in self._files:
            shape = _idx_header(f)
            if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
                raise GanvasError(f"{f}: idx images must be N×H×W or N×H×W×C, got {shape}")
            entries_per_file.append(shape[0])
            labels_path = idx_labels_path(f)
            if labels_path is None:
                self.ignore(f.name, "no matching labels file; dataset is unlabelled")
                all_labels = None
            elif all_labels is not None:
                labels = read_idx(labels_path).reshape(-1)
                if len(labels) != shape[0]:
                    raise GanvasError(f"{labels_path}: {len(labels)} labels for {shape[0]} "
                                      "images")
                all_labels.append(labels.astype(np.int64))
        label_of: list[int] | None = None
        if all_labels:
            joined = np.concatenate(all_labels)
            values = np.unique(joined)
            self.label_names = [str(int(v)) for v in values]
            label_of = np.searchsorted(values, joined).tolist()
        entries: list[Entry] = []
        for k, (f, n) in enumerate(zip(self._files, entries_per_file, strict=True)):
            width = len(str(max(n - 1, 0)))
            for row in range(n):
                label = label_of[len(entries)] if label_of is not None else None
                entries.append(Entry(f"{f.name}[{row:0{width}d}]", label, (k, row)))
        return entries

    def read(self, entries: Sequence[Entry]) -> Iterator[tuple[int, Payload]]:
        for i, entry in enumerate(entries):
            k, row = entry.ref
            if self._cache is None or self._cache[0] != k:
                data = read_idx(self._files[k])
                if data.dtype != np.uint8:
                    raise GanvasError(f"{self._files[k]}: idx images must be uint8, got "
                                      f"{data.dtype}")
                self._cache = (k, data)
            yield i, self._cache[1][row]


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a CIFAR batch can't run code."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("builtins", "bytes"),
                ("_codecs", "encode")}  # how protocol 2 pickles bytes from Python 3

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_batch(raw: bytes, where: str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - any failure means a broken batch file
        raise GanvasError(f"{where}: not a CIFAR python batch ({exc})") from None
    if not isinstance(obj, dict):
        raise GanvasError(f"{where}: not a CIFAR python batch (no dict inside)")
    return obj


class CifarSource(Source):
    """CIFAR-10 python batches, from ``cifar-10-python.tar.gz`` or ``cifar-10-batches-py/``.

    The training batches are used (``test_batch`` only when there is no training batch)."""

    kind = "cifar"

    def __init__(self, path: Path, blobs: dict[str, Any], reader: Callable[[Any], bytes],
                 on_close: Callable[[], None] | None = None) -> None:
        super().__init__(path)
        self._blobs = blobs  # batch or meta name -> ref handed to reader
        self._reader = reader  # ref -> bytes (a file path, or a member of an open tar)
        self._on_close = on_close
        self._batches: dict[str, tuple[np.ndarray, list[int], list[str]]] = {}

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    def _batch_names(self) -> list[str]:
        names = sorted((n for n in self._blobs if n.startswith("data_batch_")),
                       key=lambda n: int(n.rsplit("_", 1)[1]))
        if not names and "test_batch" in self._blobs:
            names = ["test_batch"]
        if "test_batch" in self._blobs and names != ["test_batch"]:
            self.ignore("test_batch", "CIFAR test batch; the training batches are used")
        return names

    def _batch(self, name: str) -> tuple[np.ndarray, list[int], list[str]]:
        """Decoded batch ``name``: images N×3×32×32, labels, file names (kept once loaded)."""
        if name not in self._batches:
            obj = _load_batch(self._reader(self._blobs[name]), f"{self.path}:{name}")
            data = np.asarray(obj.get(b"data"))
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                raise GanvasError(f"{self.path}:{name}: expected uint8 data of shape N×3072")
            labels = obj.get(b"labels", obj.get(b"fine_labels"))
            if labels is None or len(labels) != len(data):
                raise GanvasError(f"{self.path}:{name}: labels missing or of the wrong length")
            files = [f.decode("utf-8", "replace") for f in obj.get(b"filenames", [])]
            self._batches[name] = (data.reshape(-1, 3, 32, 32), [*map(int, labels)], files)
        return self._batches[name]

    def _list(self) -> list[Entry]:
        if "batches.meta" in self._blobs:
            meta = _load_batch(self._reader(self._blobs["batches.meta"]), f"{self.path}:meta")
            names = meta.get(b"label_names") or meta.get(b"fine_label_names") or []
            self.label_names = [n.decode("utf-8", "replace") for n in names] or None
        entries = []
        for name in self._batch_names():
            data, labels, files = self._batch(name)
            for row in range(len(data)):
                stem = files[row] if len(files) == len(data) else f"{row:05d}"
                entries.append(Entry(f"{name}/{stem}", labels[row], (name, row)))
        top = max((int(e.label or 0) for e in entries), default=-1)
        if not self.label_names or len(self.label_names) <= top:
            self.label_names = [str(i) for i in range(top + 1)]
        return entries

    def read(self, entries: Sequence[Entry]) -> Iterator[tuple[int, Payload]]:
        for i, entry in enumerate(entries):
            name, row = entry.ref
            yield i, self._batch(name)[0][row].transpose(1, 2, 0)
