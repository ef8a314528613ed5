"""Decode and transform one image: the per-image work of ``ganvas prepare``.

Runs in worker processes, so it imports neither torch nor the rest of the pipeline. Each image
ends as an :class:`ItemResult`: pixels, or the reason it was skipped, plus every change made to it
(converted colours, applied EXIF rotation, upscaling, face-crop fallback) so that nothing happens
silently. Any failure of one image is a skip, never a crash of the whole prepare.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ganvas.data.faces import DETECT_SIDE, FaceDetector, face_square
from ganvas.data.options import EDGE_MEAN, RGB, PrepareOptions, parse_color
from ganvas.data.sources import LocalFile, Payload, Unreadable, read_local

MAX_PIXELS = 100_000_000  # larger images are refused from their header, before decoding
FILTERS = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
           "box": Image.Resampling.BOX}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_GREY_MODES = frozenset({"1", "L"})


class SkipImage(Exception):
    """This image is left out; the message is the reason written to the manifest."""


@dataclass
class ItemResult:
    """What became of the candidate at position ``pos``."""

    pos: int
    pixels: np.ndarray | None = None  # uint8 C×R×R, C = the slot channels (1 or 3)
    grey: bool = False  # the image was grey before any requested channel conversion
    skip: str | None = None
    changes: list[str] = field(default_factory=list)
    upscaled: bool = False
    face_fallback: bool = False
    converted: bool = False
    not_square: tuple[int, int] | None = None  # width, height, when --crop none meets one
    digest: bytes | None = None


def read_payload(data: Payload) -> bytes | np.ndarray:
    """The bytes or array of a payload; a file that can't be read becomes a skip."""
    if isinstance(data, LocalFile):
        data = read_local(data.path)
    if isinstance(data, Unreadable):
        raise SkipImage(data.reason)
    return data


def open_image(raw: bytes) -> Image.Image:
    """Open (not decode) an encoded image, refusing decompression bombs from the header size."""
    if len(raw) == 0:
        raise SkipImage("empty file (0 bytes)")
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # PIL's own check would stop some bombs without their size
    try:
        im = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError as exc:
        raise SkipImage(f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise SkipImage("not an image (contents not recognised)") from None
    except OSError as exc:  # the header itself is cut short
        raise SkipImage(f"truncated or corrupt image header ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise SkipImage(f"decompression bomb: {w}×{h} is {w * h / 1e6:.0f} megapixels, over "
                        f"the {MAX_PIXELS // 1_000_000} megapixel limit")
    if w < 1 or h < 1:
        raise SkipImage(f"empty image ({w}×{h})")
    return im


def decode(im: Image.Image, changes: list[str], draft: tuple[int, int] | None) -> Image.Image:
    """Decode the first frame, at reduced scale where JPEG allows, upright per its EXIF tag."""
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        changes.append(f"{frames} frames; the first is used")
    if draft is not None and im.format == "JPEG":
        im.draft(im.mode, draft)
    try:
        orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the orientation
        orientation = 1
    try:
        im.load()
    except OSError as exc:
        raise SkipImage(f"truncated or corrupt image data ({exc})") from None
    if 2 <= orientation <= 8:
        im = ImageOps.exif_transpose(im)
        changes.append(f"EXIF orientation {orientation} applied")
    return im


def _to_8bit(im: Image.Image, changes: list[str]) -> Image.Image:
    """Scale 16/32-bit integer and float images to 8 bit over their full range (no clipping)."""
    arr = np.asarray(im)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if im.mode.startswith("I;16") or (im.mode == "I" and lo >= 0 and hi <= 65535):
        out = (arr.astype(np.uint32) * 255 + 32767) // 65535
        changes.append("16-bit scaled to 8-bit")
    elif im.mode == "F" and lo >= 0 and hi <= 1:
        out = np.rint(arr * 255.0)
        changes.append("float scaled to 8-bit")
    else:
        out = np.rint((arr.astype(np.float64) - lo) * (255.0 / (hi - lo or 1.0)))
        changes.append(f"{im.mode} values {lo:g}..{hi:g} stretched to 8-bit")
    return Image.fromarray(out.astype(np.uint8), "L")


def normalise_mode(im: Image.Image, background: RGB, changes: list[str]) -> Image.Image:
    """Any PIL mode to ``L`` (grey sources) or ``RGB``, compositing transparency onto
    ``background``. Palette and grey+alpha images stay grey when their colours are grey."""
    mode = im.mode
    if mode in _GREY_MODES:
        return im.convert("L")
    if mode == "RGB":
        return im
    if mode.startswith("I") or mode == "F":
        return _to_8bit(im, changes)
    transparent = mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info)
    try:
        rgba = im.convert("RGBA") if transparent else None
        rgb = im.convert("RGB") if rgba is None else None
    except (ValueError, OSError):
        raise SkipImage(f"unsupported colour mode {mode}") from None
    if rgba is not None:
        lowest_alpha = np.asarray(rgba.getchannel("A")).min()
        if lowest_alpha < 255:
            canvas = Image.new("RGBA", im.size, (*background, 255))
            rgba = Image.alpha_composite(canvas, rgba)
            changes.append("transparency composited onto #%02x%02x%02x" % background)
        rgb = rgba.convert("RGB")
    assert rgb is not None
    if mode in ("P", "PA", "LA", "La"):
        arr = np.asarray(rgb)
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            rgb = rgb.convert("L")
        if mode.startswith("P"):
            changes.append(f"palette converted to {'grey' if rgb.mode == 'L' else 'RGB'}")
    elif not transparent:
        changes.append(f"{mode} converted to RGB")
    return rgb


def edge_mean(im: Image.Image) -> int | RGB:
    """Mean colour of the outermost pixels: a padding that blends with the image's border."""
    arr = np.asarray(im)
    bands = len(im.getbands())
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]]).reshape(-1, bands)
    mean = [int(round(v)) for v in border.mean(axis=0)]
    return mean[0] if im.mode == "L" else (mean[0], mean[1], mean[2])


def square_crop(im: Image.Image, x: int, y: int, side: int, size: int, resample: int,
                fill: int | RGB | None) -> Image.Image:
    """Resize the square ``(x, y, side)`` of ``im`` to ``size``; parts outside are ``fill``.

    Cropped before resizing: a resize ``box`` would let the filter read pixels past the crop."""
    w, h = im.size
    if x < 0 or y < 0 or x + side > w or y + side > h:
        square = Image.new(im.mode, (side, side), fill if fill is not None else edge_mean(im))
        square.paste(im, (-x, -y))
    else:
        square = im.crop((x, y, x + side, y + side))
    return square if side == size else square.resize((size, size), resample)


class Transformer:
    """Turns payloads into :class:`ItemResult` s under one set of options (one per worker)."""

    def __init__(self, options: PrepareOptions) -> None:
        self.options = options
        self.background = parse_color(options.background, "--background")
        self.fill: RGB | None = None
        if options.pad_color != EDGE_MEAN:
            self.fill = parse_color(options.pad_color, "--pad-color")
        self.detector: FaceDetector | None = None
        if options.crop == "face":
            self.detector = FaceDetector()
            self.detector.load()
        self.slot_channels = options.channels or 3
        self.resample = FILTERS[options.filter]

    def __call__(self, pos: int, data: Payload) -> ItemResult:
        """Process one candidate; every failure becomes a skip with its reason."""
        result = ItemResult(pos)
        try:
            self._process(data, result)
        except SkipImage as exc:
            result.skip = str(exc)
        except Exception as exc:  # noqa: BLE001 - decoders raise all sorts on broken files
            result.skip = f"cannot decode ({type(exc).__name__}: {exc})"
        if result.skip is not None:
            result.pixels = None
        return result

    def _draft_size(self, w: int, h: int) -> tuple[int, int] | None:
        """Smallest JPEG decode size that still leaves the crop at twice the target size (four
        times for face crops, whose square is smaller than the image)."""
        crop, res = self.options.crop, self.options.resolution
        ref = max(w, h) if crop == "pad" else min(w, h)
        need = max(4 * res, 2 * DETECT_SIDE) if crop == "face" else 2 * res
        if need * 2 > ref:
            return None
        return (math.ceil(w * need / ref), math.ceil(h * need / ref))

    def _process(self, data: Payload, result: ItemResult) -> None:
        raw = read_payload(data)
        changes = result.changes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if isinstance(raw, np.ndarray):  # H×W, H×W×1 or H×W×3 uint8 from idx or CIFAR
                im = Image.fromarray(np.ascontiguousarray(raw[..., 0] if raw.ndim == 3 and
                                                          raw.shape[2] == 1 else raw))
            else:
                im = open_image(raw)
            orig_w, orig_h = im.size
            if self.options.crop == "none" and orig_w != orig_h:
                result.not_square = (orig_w, orig_h)
                raise SkipImage(f"not square ({orig_w}×{orig_h}) and --crop none")
            im = decode(im, changes, self._draft_size(orig_w, orig_h))
        scale = max(orig_w, orig_h) / max(im.size)  # > 1 after a reduced JPEG decode
        im = normalise_mode(im, self.background, changes)
        result.grey = im.mode == "L"
        result.converted = bool(changes)
        if self.options.channels == 1 and im.mode != "L":
            im = im.convert("L")
        elif self.options.channels == 3 and im.mode != "RGB":
            im = im.convert("RGB")
        x, y, side = self._square(im, result)
        orig_side = round(side * scale)
        min_size, res = self.options.effective_min_size, self.options.resolution
        if orig_side < min_size:
            raise SkipImage(f"too small: {orig_w}×{orig_h}, crop side {orig_side} px is under "
                            f"the minimum {min_size} (--min-size)")
        if orig_side < res:
            result.upscaled = True
            changes.append(f"upscaled from {orig_side} px")
        out = square_crop(im, x, y, side, res, self.resample, self._fill(im))
        pixels = np.asarray(out)
        pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        if pixels.shape[0] != self.slot_channels:
            pixels = np.repeat(pixels, self.slot_channels, axis=0)
        result.pixels = np.ascontiguousarray(pixels)
        if self.options.dedupe:
            result.digest = hashlib.blake2b(result.pixels.tobytes(), digest_size=16).digest()

    def _fill(self, im: Image.Image) -> int | RGB | None:
        if self.fill is None:
            return None
        if im.mode == "L":
            r, g, b = self.fill
            return (r * 299 + g * 587 + b * 114 + 500) // 1000
        return self.fill

    def _square(self, im: Image.Image, result: ItemResult) -> tuple[int, int, int]:
        """The crop square ``(x, y, side)`` in ``im``'s pixels (may extend past its edges)."""
        w, h = im.size
        crop = self.options.crop
        if crop == "pad":
            side = max(w, h)
            return (-((side - w) // 2), -((side - h) // 2), side)
        if crop == "face":
            assert self.detector is not None
            face = self.detector.largest_face(np.asarray(im.convert("L")))
            if face is not None:
                x, y, side, _ = face_square(face, self.options.face_margin, w, h)
                return (x, y, side)
            result.face_fallback = True
            result.changes.append("no face found; centre crop used")
        side = min(w, h)
        return ((w - side) // 2, (h - side) // 2, side)

