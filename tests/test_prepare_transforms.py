"""Crop modes, colour conversions and size rules, checked on images with known pixels."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganvas.data.packed import PackedDataset
from ganvas.data.prepare import PrepareOptions, prepare
from ganvas.errors import GanvasError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba_aligned_6k.tar"


def pack(tmp_path: Path, images: dict[str, Image.Image | bytes], **options: object
         ) -> PackedDataset:
    """Save ``images`` into a fresh folder, prepare it (one worker) and open the result."""
    src = tmp_path / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name, im in images.items():
        if isinstance(im, bytes):
            (src / name).write_bytes(im)
        else:
            im.save(src / name)
    options.setdefault("workers", 1)
    dest = tmp_path / "out"
    prepare(src, dest, PrepareOptions(**options), overwrite=True, progress=False)
    return PackedDataset.open(dest)


def stripes() -> Image.Image:
    """100×50: 25 columns red, 50 green, 25 blue."""
    arr = np.zeros((50, 100, 3), np.uint8)
    arr[:, :25], arr[:, 25:75], arr[:, 75:] = RED, GREEN, BLUE
    return Image.fromarray(arr)


def hwc(ds: PackedDataset, i: int = 0) -> np.ndarray:
    return np.asarray(ds.images[i]).transpose(1, 2, 0)


def changes(ds: PackedDataset) -> dict[str, list[str]]:
    return {a["name"]: a["changes"] for a in ds.meta["altered"]}


def test_center_crop_keeps_the_middle(tmp_path: Path) -> None:
    out = hwc(pack(tmp_path, {"s.png": stripes()}, resolution=10, crop="center"))
    assert (out == GREEN).all()


@pytest.mark.parametrize("pad_color, fill", [("0,0,0", (0, 0, 0)), ("#102030", (16, 32, 48)),
                                             ("edge-mean", (85, 85, 85))])
def test_pad_keeps_the_whole_image(tmp_path: Path, pad_color: str, fill: tuple) -> None:
    out = hwc(pack(tmp_path, {"s.png": stripes()}, resolution=20, crop="pad", filter="box",
                   pad_color=pad_color))
    assert (out[:5] == fill).all() and (out[15:] == fill).all()
    content = out[5:15]
    assert (content[:, :5] == RED).all()
    assert (content[:, 5:15] == GREEN).all()
    assert (content[:, 15:] == BLUE).all()


def test_crop_none_passes_squares_and_lists_the_others(tmp_path: Path) -> None:
    square = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), np.uint8))
    ds = pack(tmp_path, {"sq.png": square}, resolution=32, crop="none")
    np.testing.assert_array_equal(hwc(ds), np.asarray(square))
    with pytest.raises(GanvasError, match=r"--crop none: 2 of 2 images are not square: "
                                          r"a\.png \(100×50\), b\.png"):
        pack(tmp_path, {"a.png": stripes(), "b.png": stripes()}, resolution=32, crop="none")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no temp folder left


def test_16_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.zeros((32, 32), np.uint16)
    arr[:16, 16:], arr[16:, :16], arr[16:, 16:] = 1000, 32896, 65535
    ds = pack(tmp_path, {"deep.png": Image.fromarray(arr)}, resolution=32)
    assert ds.channels == 1  # grey source, auto channels
    out = np.asarray(ds.images[0, 0])
    assert (out[:16, :16] == 0).all() and (out[:16, 16:] == 4).all()
    assert (out[16:, :16] == 128).all() and (out[16:, 16:] == 255).all()
    assert "16-bit scaled to 8-bit" in changes(ds)["deep.png"]


@pytest.mark.parametrize("background, expected", [("white", 255), ("0,0,0", 0)])
def test_alpha_is_composited_onto_the_background(tmp_path: Path, background: str,
                                                 expected: int) -> None:
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, :16] = (255, 0, 0, 0)  # fully transparent
    rgba[:, 16:] = (0, 0, 255, 128)  # half transparent blue
    ds = pack(tmp_path, {"a.png": Image.fromarray(rgba, "RGBA")}, resolution=32,
              background=background)
    out = hwc(ds).astype(int)
    assert (out[:, :16] == expected).all()
    half = round(expected * 127 / 255)
    assert np.abs(out[:, 16:] - (half, half, 128 + half)).max() <= 1
    assert any("transparency composited" in c for c in changes(ds)["a.png"])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :40], arr[:, 40:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to display
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95, exif=exif)
    ds = pack(tmp_path, {"r.jpg": buf.getvalue()}, resolution=20, crop="pad", pad_color="0,0,0",
              filter="box")
    out = hwc(ds).astype(int)
    assert np.abs(out[1:9, 7:13] - RED).max() < 40  # the stored left half is now on top
    assert np.abs(out[11:19, 7:13] - BLUE).max() < 40
    assert (out[:, :4] == 0).all()  # portrait now: padded left and right
    assert changes(ds)["r.jpg"] == ["EXIF orientation 6 applied"]


def test_cmyk_palette_and_grey_alpha_conversions(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(buf, format="JPEG", quality=95)
    ds = pack(tmp_path, {"c.jpg": buf.getvalue()}, resolution=32)
    assert np.abs(hwc(ds).astype(int) - RED).max() < 10
    assert changes(ds)["c.jpg"] == ["CMYK converted to RGB"]
    grey_palette = Image.fromarray(np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1)))
    la = Image.fromarray(np.full((32, 32), 100, np.uint8)).convert("LA")
    ds = pack(tmp_path / "g", {"p.gif": grey_palette.convert("P"), "la.png": la}, resolution=32)
    assert ds.channels == 1  # every image was grey
    assert changes(ds)["p.gif"] == ["palette converted to grey"]
    assert (np.asarray(ds.images[0]) == 100).all()  # la.png sorts first; opaque: unchanged


def test_channels_option_forces_grey_or_rgb(tmp_path: Path) -> None:
    grey = Image.fromarray(np.full((32, 32), 77, np.uint8))
    ds = pack(tmp_path, {"g.png": grey, "s.png": stripes()}, resolution=32)
    assert ds.channels == 3  # one colour image makes the set RGB
    assert (np.asarray(ds.images[0]) == 77).all()  # g.png, replicated into three channels
    ds = pack(tmp_path, {"g.png": grey, "s.png": stripes()}, resolution=32, channels=1)
    assert ds.channels == 1 and (np.asarray(ds.images[1]) == 150).all()  # green's luma


def test_min_size_skips_and_upscales(tmp_path: Path) -> None:
    im = {"big.png": Image.new("RGB", (40, 40), RED), "mid.png": Image.new("RGB", (20, 20), RED),
          "low.png": Image.new("RGB", (10, 10), RED)}
    ds = pack(tmp_path, im, resolution=32)  # default --min-size 16
    assert ds.meta["counts"]["kept"] == 2 and ds.meta["counts"]["upscaled"] == 1
    assert "upscaled from 20 px" in changes(ds)["mid.png"]
    assert "under the minimum 16" in ds.meta["skipped"][0]["reason"]
    ds = pack(tmp_path, im, resolution=32, min_size=8)
    assert ds.meta["counts"]["kept"] == 3 and ds.meta["counts"]["upscaled"] == 2


def test_large_jpeg_decoded_at_reduced_scale_matches(tmp_path: Path) -> None:
    """Big JPEGs are decoded at 1/2..1/8 scale (much faster); the result barely changes."""
    yy, xx = np.mgrid[0:900, 0:1200]
    arr = np.stack([xx * 255 // 1200, yy * 255 // 900, (xx + yy) * 255 // 2100], -1)
    im = Image.fromarray(arr.astype(np.uint8))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95)
    reference = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")  # PNG: never drafted
    ds = pack(tmp_path, {"big.jpg": buf.getvalue(), "same.png": reference}, resolution=32)
    fast, full = hwc(ds, 0).astype(int), hwc(ds, 1).astype(int)
    assert np.abs(fast - full).mean() < 2 and np.abs(fast - full).max() < 12
    assert ds.meta["altered"] == []  # nothing to report: a normal decode


def test_filters_differ(tmp_path: Path) -> None:
    noise = Image.fromarray(np.random.default_rng(3).integers(0, 255, (96, 96, 3), np.uint8))
    outs = [hwc(pack(tmp_path / f, {"n.png": noise}, resolution=32, filter=f))
            for f in ("lanczos", "bicubic", "box")]
    assert not np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[1], outs[2])


def _need_cascade() -> None:
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip("this OpenCV ships no Haar cascade (OpenCV 5); face crop needs opencv<5")


def test_face_crop_falls_back_to_centre_and_counts_it(tmp_path: Path) -> None:
    _need_cascade()
    rng = np.random.default_rng(5)
    images = {f"n{i}.png": Image.fromarray(rng.integers(0, 255, (60, 80, 3), np.uint8))
              for i in range(3)}
    face = pack(tmp_path / "f", images, resolution=16, crop="face")
    centre = pack(tmp_path / "c", images, resolution=16, crop="center")
    np.testing.assert_array_equal(face.images, centre.images)
    assert face.meta["counts"]["face_fallbacks"] == 3
    assert changes(face)["n0.png"] == ["no face found; centre crop used"]


@pytest.mark.skipif(not CELEBA.exists(), reason="needs ../shared/data/celeba_aligned_6k.tar")
def test_face_crop_centres_real_faces(tmp_path: Path) -> None:
    _need_cascade()
    from ganvas.data.faces import FaceDetector

    src = tmp_path / "faces"
    src.mkdir()
    with tarfile.open(CELEBA) as tar:
        members = [m for m in tar.getmembers() if m.isfile()][:40]
        for m in members:
            (src / Path(m.name).name).write_bytes(tar.extractfile(m).read())
    dest = tmp_path / "out"
    report = prepare(src, dest, PrepareOptions(resolution=64, crop="face", workers=1),
                     progress=False)
    assert report.kept == 40 and report.face_fallbacks <= 4
    detector = FaceDetector()
    offsets = []
    for img in PackedDataset.open(dest).images:
        grey = np.asarray(Image.fromarray(img.transpose(1, 2, 0)).convert("L").resize((128, 128)))
        box = detector.largest_face(grey)
        if box is not None:
            x, y, w, h = box
            offsets.append(max(abs(x + w / 2 - 64), abs(y + h / 2 - 64)))
            assert 50 <= w <= 110  # the face fills about 1/1.6 of the square
    assert len(offsets) >= 30 and np.median(offsets) < 8
    meta = json.loads((dest / "dataset.json").read_text())
    assert meta["options"]["crop"] == "face"
