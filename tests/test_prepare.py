"""The prepare API and command: ordering, dedupe, limits, caching, interrupts and errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganvas.data import transforms
from ganvas.data.commands import dataset_group, prepare_command
from ganvas.data.packed import PackedDataset
from ganvas.data.prepare import PrepareOptions, prepare, prepare_cached

ONE = PrepareOptions(resolution=8, workers=1)


def solid(value: int) -> Image.Image:
    return Image.new("RGB", (16, 16), (value, value // 2, 255 - value))


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Ten solid images img0..img9 (red channel 0, 10, ..., 90), two of them broken."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(10):
        solid(10 * i).save(src / f"img{i}.png")
    for i in (1, 4):
        (src / f"img{i}.png").write_bytes(b"broken")
    return src


def reds(path: Path) -> list[int]:
    return [int(v) for v in PackedDataset.open(path).images[:, 0, 0, 0]]


def test_report_and_sorted_order(folder: Path, tmp_path: Path) -> None:
    report = prepare(folder, tmp_path / "out", ONE, progress=False)
    assert (report.candidates, report.kept, report.skipped) == (10, 8, 2)
    assert report.summary == f"kept 8 of 10; 2 skipped, see {tmp_path / 'out' / 'dataset.json'}"
    assert reds(tmp_path / "out") == [0, 20, 30, 50, 60, 70, 80, 90]
    assert oct(os.stat(tmp_path / "out").st_mode & 0o777) != oct(0o700)  # not left private


def test_shuffle_seed_is_deterministic(folder: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        prepare(folder, tmp_path / name, PrepareOptions(resolution=8, workers=1,
                                                        shuffle_seed=3), progress=False)
    assert reds(tmp_path / "a") == reds(tmp_path / "b")
    assert reds(tmp_path / "a") != sorted(reds(tmp_path / "a"))
    assert sorted(reds(tmp_path / "a")) == [0, 20, 30, 50, 60, 70, 80, 90]


def test_max_images_tops_up_after_skips(folder: Path, tmp_path: Path) -> None:
    report = prepare(folder, tmp_path / "out", PrepareOptions(resolution=8, workers=1,
                                                              max_images=4), progress=False)
    assert reds(tmp_path / "out") == [0, 20, 30, 50]  # img1 and img4 are broken
    assert report.kept == 4 and report.not_taken + report.kept + report.skipped == 10
    assert "over --max-images" in report.summary


def test_dedupe_drops_identical_pixels(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    solid(50).save(src / "a.png")
    solid(50).save(src / "b.bmp")  # same pixels, other format
    solid(60).save(src / "c.png")
    report = prepare(src, tmp_path / "out", PrepareOptions(resolution=8, workers=1,
                                                           dedupe=True), progress=False)
    assert report.kept == 2 and report.duplicates == 1
    meta = PackedDataset.open(tmp_path / "out").meta
    assert meta["duplicates"] == [{"name": "b.bmp", "same_as": "a.png"}]
    assert "1 duplicates dropped" in report.summary
    prepare(src, tmp_path / "keep", ONE, progress=False)
    assert len(PackedDataset.open(tmp_path / "keep")) == 3  # off by default


def test_prepare_cached_reuses_the_dataset(folder: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANVAS_CACHE", str(tmp_path / "cache"))
    decoded = []
    real = transforms.open_image
    monkeypatch.setattr(transforms, "open_image", lambda raw: decoded.append(1) or real(raw))
    first = prepare_cached(folder, ONE, progress=False)
    assert first.parent == tmp_path / "cache" / "datasets" and len(decoded) == 10
    assert prepare_cached(folder, ONE, progress=False) == first
    assert len(decoded) == 10  # nothing decoded the second time
    other = prepare_cached(folder, PrepareOptions(resolution=16, workers=1), progress=False)
    assert other != first
    solid(99).save(folder / "img0.png")  # content changed: size or mtime differ
    os.utime(folder / "img0.png", ns=(1, 1))
    assert prepare_cached(folder, ONE, progress=False) != first


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupt_leaves_no_dest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  workers: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(120):
        solid(i).save(src / f"img{i:03d}.png")
    calls = []
    real = transforms.open_image

    def interrupted(raw: bytes) -> Image.Image:
        calls.append(1)
        if len(calls) == 50:
            raise KeyboardInterrupt
        return real(raw)
    monkeypatch.setattr(transforms, "open_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(src, tmp_path / "out", PrepareOptions(resolution=8, workers=workers),
                progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no DEST, no temp folder
    calls.clear()
    result = CliRunner().invoke(prepare_command, [str(src), str(tmp_path / "out"),
                                                  "--workers", "1", "--resolution", "8"])
    assert result.exit_code == 130 and "interrupted" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(prepare_command, list(args))
    return result.exit_code, result.output.strip()


def test_user_errors_are_one_line_with_exit_code_2(folder: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert cli(str(folder), out, "--crop", "diagonal") == (
        2, "ganvas: error: --crop: unknown mode 'diagonal' (choose center, pad, face, none)")
    code, text = cli(str(folder), out, "--pad-color", "blurple")
    assert code == 2 and text.startswith("ganvas: error: --pad-color: cannot read colour")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_text("text")
    (bad / "b.png").write_bytes(b"")
    code, text = cli(str(bad), out)
    assert code == 2 and text == (f"ganvas: error: {bad}: no usable image among 2 candidates "
                                  "(1 not an image; 1 empty file)")
    assert cli(str(folder), out, "--workers", "1", "--resolution", "8")[0] == 0
    code, text = cli(str(folder), out)
    assert (code, text) == (2, f"ganvas: error: {out}: already exists (use --overwrite to "
                               "replace it)")
    assert cli(str(folder), out, "--overwrite", "--resolution", "16", "--workers", "1")[0] == 0
    assert PackedDataset.open(out).resolution == 16
    code, text = cli(str(folder), str(tmp_path), "--overwrite")
    assert code == 2 and "is not a packed dataset; refusing to replace it" in text
    code, text = cli(str(folder), str(folder / "inside"))
    assert code == 2 and "must not be inside the source folder" in text
    code, text = cli(out, str(tmp_path / "again"))
    assert code == 2 and "already a packed dataset" in text


def test_dataset_info_command(folder: Path, tmp_path: Path) -> None:
    shutil.copytree(folder, tmp_path / "pets" / "cats")
    shutil.copytree(folder, tmp_path / "pets" / "dogs")
    prepare(tmp_path / "pets", tmp_path / "out", ONE, progress=False)
    result = CliRunner().invoke(dataset_group, ["info", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "16 images, 8×8 RGB" in result.output
    assert "labels: 2 classes: cats 8, dogs 8" in result.output
    assert f"preview: {tmp_path / 'out' / 'preview.png'}" in result.output
    mean_line = next(line for line in result.output.splitlines() if line.startswith("mean"))
    expected = np.mean([0, 20, 30, 50, 60, 70, 80, 90])
    assert f"R {expected:.1f}" in mean_line
    result = CliRunner().invoke(dataset_group, ["info", str(tmp_path / "pets")])
    assert result.exit_code == 2 and "not a packed dataset" in result.output
