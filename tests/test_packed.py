"""Opening packed datasets, and the clear errors for broken ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganvas.data.packed import PackedDataset, is_packed
from ganvas.data.prepare import PrepareOptions, prepare
from ganvas.errors import GanvasError


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("packed")
    for label in ("a", "b"):
        (root / "src" / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (12, 12), (40 * i, 0, 200)).save(root / "src" / label / f"{i}.png")
    prepare(root / "src", root / "ds", PrepareOptions(resolution=8, workers=1), progress=False)
    return root / "ds"


def broken_copy(packed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(packed, copy)
    return copy


def test_open_good_dataset(packed: Path) -> None:
    ds = PackedDataset.open(packed)
    assert is_packed(packed) and len(ds) == 6
    assert (ds.resolution, ds.channels) == (8, 3)
    assert isinstance(ds.images, np.memmap) and ds.images.dtype == np.uint8
    assert ds.images.shape == (6, 3, 8, 8) and not ds.images.flags.writeable
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.label_names == ["a", "b"]
    assert ds.meta["format"] == "ganvas-packed" and ds.meta["count"] == 6
    assert len(ds.meta["mean"]) == 3 and ds.meta["mean"][2] == 200.0
    assert Image.open(packed / "preview.png").size == (3 * 10 + 2, 2 * 10 + 2)  # 3 per row


def test_is_packed(tmp_path: Path) -> None:
    assert not is_packed(tmp_path) and not is_packed(tmp_path / "missing")
    (tmp_path / "images.npy").write_bytes(b"")
    assert is_packed(tmp_path)  # looks packed; opening says what is wrong


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "images.npy").unlink(), "images.npy: missing"),
    (lambda p: (p / "images.npy").write_bytes((p / "images.npy").read_bytes()[:300]),
     "images.npy: truncated or corrupt"),
    (lambda p: (p / "dataset.json").unlink(), r"not a packed dataset \(no dataset.json\)"),
    (lambda p: (p / "dataset.json").write_text("{"), "dataset.json: unreadable"),
    (lambda p: np.save(p / "images.npy", np.zeros((5, 3, 8, 8), np.uint8)),
     r"images.npy has shape \(5, 3, 8, 8\) but dataset.json says \(6, 3, 8, 8\)"),
    (lambda p: np.save(p / "images.npy", np.zeros((6, 3, 8, 8), np.float32)),
     "expected uint8"),
    (lambda p: np.save(p / "labels.npy", np.zeros(4, np.int64)), "labels.npy: expected int64"),
    (lambda p: np.save(p / "labels.npy", np.full(6, 7, np.int64)), "labels outside the 2"),
    (lambda p: (p / "labels.npy").unlink(), "labels.npy: missing"),
])
def test_broken_datasets_give_clear_errors(packed: Path, tmp_path: Path, damage, message: str
                                           ) -> None:
    copy = broken_copy(packed, tmp_path)
    damage(copy)
    with pytest.raises(GanvasError, match=message):
        PackedDataset.open(copy)


def test_newer_format_version_is_refused(packed: Path, tmp_path: Path) -> None:
    copy = broken_copy(packed, tmp_path)
    meta = json.loads((copy / "dataset.json").read_text())
    meta["format_version"] = 99
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(GanvasError, match="upgrade ganvas"):
        PackedDataset.open(copy)
    with pytest.raises(GanvasError, match="no such folder"):
        PackedDataset.open(tmp_path / "nowhere")
