"""Every kind of source: folders with class sub-folders, zip, tar, tar.gz, idx and CIFAR."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganvas.data.packed import PackedDataset
from ganvas.data.prepare import PrepareOptions, prepare
from ganvas.data.opening import open_source
from ganvas.errors import GanvasError

OPTIONS = PrepareOptions(resolution=8, workers=1)


def png(value: int, size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value, 255 - value, 7)).save(buf, format="PNG")
    return buf.getvalue()


FILES = {"cats/a.png": png(10), "cats/b.png": png(20), "dogs/c.png": png(30),
         "__MACOSX/dogs/._c.png": b"resource fork", "dogs/readme.txt": b"hi"}


def run(src: Path, tmp_path: Path, options: PrepareOptions = OPTIONS) -> PackedDataset:
    dest = tmp_path / "out"
    dest.parent.mkdir(parents=True, exist_ok=True)
    prepare(src, dest, options, progress=False)
    return PackedDataset.open(dest)


def check_cats_and_dogs(ds: PackedDataset) -> None:
    assert len(ds) == 3 and ds.label_names == ["cats", "dogs"]
    assert ds.labels.tolist() == [0, 0, 1]
    assert ds.meta["labels"]["histogram"] == {"cats": 2, "dogs": 1}
    assert [int(ds.images[i, 0, 0, 0]) for i in range(3)] == [10, 20, 30]  # sorted order
    assert ds.meta["ignored"]["count"] == 2  # macOS metadata and the text file


def test_folder_with_class_subfolders(tmp_path: Path) -> None:
    src = tmp_path / "pets"
    for name, data in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    check_cats_and_dogs(run(src, tmp_path))


def test_images_outside_class_folders_mean_no_labels(tmp_path: Path) -> None:
    src = tmp_path / "mixed"
    (src / "cats").mkdir(parents=True)
    (src / "cats" / "a.png").write_bytes(png(1))
    (src / "top.png").write_bytes(png(2))
    ds = run(src, tmp_path)
    assert ds.labels is None and ds.meta["labels"] is None
    assert not (ds.path / "labels.npy").exists()


def test_zip_archive(tmp_path: Path) -> None:
    src = tmp_path / "pets.zip"
    with zipfile.ZipFile(src, "w") as z:
        for name, data in FILES.items():
            z.writestr(f"pets/{name}", data)  # one wrapper folder, as zips usually have
    check_cats_and_dogs(run(src, tmp_path))


@pytest.mark.parametrize("suffix, mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz")])
def test_tar_archives(tmp_path: Path, suffix: str, mode: str) -> None:
    src = tmp_path / f"pets{suffix}"
    with tarfile.open(src, mode) as tar:
        for name, data in sorted(FILES.items(), reverse=True):  # archive order is not sorted
            info = tarfile.TarInfo(f"pets/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    check_cats_and_dogs(run(src, tmp_path))
    with open_source(src) as source:  # items are yielded lazily with their labels
        assert sorted((i.name, i.label) for i in source.items()) == [
            ("pets/cats/a.png", 0), ("pets/cats/b.png", 0), ("pets/dogs/c.png", 1)]


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_folder_and_file(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = np.arange(4 * 16 * 16, dtype=np.uint32).reshape(4, 16, 16) % 251
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([3, 1, 3, 7]))
    write_idx(folder / "t10k-images-idx3-ubyte", images[:1])  # no labels file for this one
    ds = run(folder / "train-images-idx3-ubyte.gz", tmp_path,
             PrepareOptions(resolution=16, workers=1))
    assert ds.channels == 1 and len(ds) == 4
    np.testing.assert_array_equal(ds.images[:, 0], images)
    assert ds.label_names == ["1", "3", "7"] and ds.labels.tolist() == [1, 0, 1, 2]
    ds = run(folder, tmp_path / "all", PrepareOptions(resolution=16, workers=1))
    assert len(ds) == 5 and ds.labels is None  # t10k has no labels: the set is unlabelled
    assert ds.meta["source"]["kind"] == "idx"


def cifar_batch(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
             b"labels": [int(v) for v in rng.integers(0, 10, n)],
             b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)]}
    return pickle.dumps(batch, protocol=2)


def make_cifar(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(cifar_batch(3, 1))
    (folder / "data_batch_2").write_bytes(cifar_batch(2, 2))
    (folder / "test_batch").write_bytes(cifar_batch(2, 3))
    names = [n.encode() for n in ("airplane automobile bird cat deer dog frog horse ship "
                                  "truck").split()]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))


def test_cifar_folder_and_tarball(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder)
    first = pickle.loads((folder / "data_batch_1").read_bytes())
    for src in (folder, tmp_path / "cifar-10-python.tar.gz"):
        if src.suffix == ".gz":
            with tarfile.open(src, "w:gz") as tar:
                tar.add(folder, arcname="cifar-10-batches-py")
        ds = run(src, tmp_path / f"{src.name}-out", PrepareOptions(resolution=32, workers=1))
        assert len(ds) == 5 and ds.meta["source"]["kind"] == "cifar"  # training batches only
        np.testing.assert_array_equal(ds.images[0].reshape(-1), first[b"data"][0])
        assert ds.labels[:3].tolist() == first[b"labels"]
        assert ds.label_names[0] == "airplane" and len(ds.label_names) == 10


def test_cifar_pickle_cannot_run_code(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(GanvasError, match="refusing to load builtins.print"):
        run(folder, tmp_path)


def test_unknown_and_missing_sources(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GanvasError, match="not a folder, zip, tar, idx or CIFAR source"):
        run(tmp_path / "notes.txt", tmp_path)
    with pytest.raises(GanvasError, match="no such file or folder"):
        run(tmp_path / "nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanvasError, match="no image files found"):
        run(tmp_path / "empty", tmp_path)
