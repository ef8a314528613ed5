"""A messy folder of every kind of bad file next to good ones: each is converted or skipped,
never a crash, and every skip and change is listed in dataset.json."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganvas.data import sources
from ganvas.data.commands import prepare_command
from ganvas.data.packed import PackedDataset

GOOD = 5
RNG = np.random.default_rng(0)


def noise(w: int, h: int) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 255, (h, w, 3), dtype=np.uint8))


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares a huge size but holds almost no data (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def make_messy(root: Path) -> None:
    root.mkdir()
    for i in range(GOOD):
        noise(80, 60).save(root / f"good{i}.jpg", quality=90)
    whole = (root / "good0.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(whole[:len(whole) // 2])
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("not an image\n")
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 32:, 3] = 255
    Image.fromarray(rgba, "RGBA").save(root / "alpha.png")
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(
        root / "deep16.png")
    noise(64, 64).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "palette.gif")
    frames = [noise(64, 64).convert("P") for _ in range(3)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(root / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    noise(80, 40).save(root / "rotated.jpg", exif=exif)
    Image.new("RGB", (1, 1)).save(root / "tiny.png")
    noise(24, 24).save(root / "small.png")  # above --min-size 16, below 32: upscaled
    png_header_only(root / "bomb.png", 20000, 20000)
    png_header_only(root / "bomb_just_over.png", 12000, 9000)  # under PIL's own error limit
    noise(64, 64).save(root / "photo.webp")
    noise(64, 64).save(root / "noperm.png")
    with open(os.fsencode(root) + b"/bad\xffname.png", "wb") as f:  # kept
        noise(64, 64).save(f, format="PNG")
    with open(os.fsencode(root) + b"/broken\xfe.jpg", "wb") as f:  # skipped: name in manifest
        f.write(b"GIF89a broken")
    (root / "sub").mkdir()
    noise(64, 64).save(root / "sub" / "inner.bmp")
    os.symlink("..", root / "sub" / "loop")
    (root / "notes.txt").write_text("not a candidate")


SKIPS = {
    "truncated.jpg": "truncated",
    "empty.jpg": "empty file",
    "text.jpg": "not an image",
    "tiny.png": "too small",
    "bomb.png": "decompression bomb",
    "bomb_just_over.png": "decompression bomb",
    "noperm.png": "permission denied",
    "broken\\xfe.jpg": "not an image",
}
CHANGES = {
    "alpha.png": "transparency composited",
    "deep16.png": "16-bit scaled",
    "palette.gif": "palette converted",
    "animated.gif": "3 frames; the first is used",
    "cmyk.jpg": "CMYK converted",
    "rotated.jpg": "EXIF orientation 6",
    "small.png": "upscaled from 24 px",
}


@pytest.fixture()
def messy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "messy"
    make_messy(root)
    real_open = open

    def no_permission(path, *args, **kwargs):  # root reads everything: simulate chmod 000
        if str(path).endswith("noperm.png"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(sources, "open", no_permission, raising=False)
    return root


def test_messy_folder_is_cleaned_and_every_skip_listed(messy: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = CliRunner().invoke(prepare_command, [str(messy), str(dest), "--resolution", "32",
                                                  "--workers", "1"])
    assert result.exit_code == 0, result.output
    meta = json.loads((dest / "dataset.json").read_bytes().decode("utf-8"))  # strict UTF-8
    skipped = {s["name"]: s["reason"] for s in meta["skipped"]}
    for name, reason in SKIPS.items():
        assert reason in skipped.get(name, ""), (name, skipped)
    assert set(skipped) == set(SKIPS)
    altered = {a["name"]: " | ".join(a["changes"]) for a in meta["altered"]}
    for name, change in CHANGES.items():
        assert change in altered.get(name, ""), (name, altered)
    candidates = GOOD + len(SKIPS) + len(CHANGES) + 3  # webp, bmp in sub/, non-UTF-8 name
    counts = meta["counts"]
    assert counts["candidates"] == candidates
    assert counts["kept"] == candidates - len(SKIPS)
    assert counts["skipped"] == len(SKIPS)
    assert counts["upscaled"] == 1
    assert counts["converted"] == len(CHANGES) - 1
    assert meta["ignored"]["count"] == 2  # notes.txt and the symlink loop
    reasons = {i["name"]: i["reason"] for i in meta["ignored"]["examples"]}
    assert "symlink loop" in reasons["sub/loop"]
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"kept {candidates - len(SKIPS)} of {candidates}; {len(SKIPS)} skipped, "
                           f"see {dest / 'dataset.json'}")
    assert "1 upscaled" in line
    ds = PackedDataset.open(dest)
    assert ds.images.shape == (candidates - len(SKIPS), 3, 32, 32)
    assert (dest / "preview.png").is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file; the monkeypatched "
                    "PermissionError in the messy-folder test covers it")
def test_real_unreadable_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        noise(40, 40).save(src / f"ok{i}.png")
    (src / "ok1.png").chmod(0)
    result = CliRunner().invoke(prepare_command, [str(src), str(tmp_path / "out"),
                                                  "--resolution", "32", "--workers", "1"])
    assert result.exit_code == 0
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["skipped"] == [{"name": "ok1.png", "reason": "permission denied"}]


def test_parallel_workers_give_the_same_dataset(tmp_path: Path) -> None:
    """Two worker processes (chunks arriving out of order) pack exactly what one does."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(100):  # several chunks
        noise(48, 40).save(src / f"img{i:03d}.png")
    (src / "img050.png").write_bytes(b"broken")
    args = ["--resolution", "16", "--dedupe"]
    one = CliRunner().invoke(prepare_command, [str(src), str(tmp_path / "a"), *args,
                                               "--workers", "1"])
    two = CliRunner().invoke(prepare_command, [str(src), str(tmp_path / "b"), *args,
                                               "--workers", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert one.output.splitlines()[-1].replace("/a/", "/b/") == two.output.splitlines()[-1]
    a, b = PackedDataset.open(tmp_path / "a"), PackedDataset.open(tmp_path / "b")
    assert len(a) == 99
    np.testing.assert_array_equal(a.images, b.images)
