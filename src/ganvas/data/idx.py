"""Reader for MNIST-style idx files (``*-idx3-ubyte`` and ``*-idx1-ubyte``, gzipped or not)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ganvas.errors import GanvasError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file into a numpy array of its declared shape and type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise GanvasError(f"{path}: cannot read idx file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise GanvasError(f"{path}: not an idx file (bad magic number)")
    dtype, ndim = np.dtype(_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GanvasError(f"{path}: idx header is truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape)) if shape else 1
    if len(data) < header + count * dtype.itemsize:
        raise GanvasError(f"{path}: idx data is truncated (expected {shape})")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape).copy()
