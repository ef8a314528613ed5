"""Where exploration output goes: checked output folders, grid shapes, videos and GIFs.

Videos are written whole or not at all, like every other ganvas file: MP4 through imageio and the
ffmpeg binary that the ``imageio-ffmpeg`` package ships (so no system ffmpeg is needed), GIF
through PIL alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ganvas.errors import GanvasError
from ganvas.utils.io import atomic_path

VIDEO_FORMATS = ("mp4", "gif")
IMAGE_FORMATS = ("png", "jpg")


def parse_grid(text: str, option: str = "--grid") -> tuple[int, int]:
    """``'4x2'`` -> (4 columns, 2 rows): width first, like a screen size."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise GanvasError(f"{option}: {text!r} is not COLUMNSxROWS, e.g. 4x2")
    return int(match.group(1)), int(match.group(2))


def video_format(path: str | os.PathLike, option: str = "--out") -> str:
    """``mp4`` or ``gif``, from the file name."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in VIDEO_FORMATS:
        raise GanvasError(f"{option}: {Path(path).name!r} must end in .mp4 or .gif")
    return suffix


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write uint8 frames (T×H×W×C, C = 1 or 3) as an MP4 or GIF (by ``path``'s suffix)."""
    path = Path(path)
    kind = video_format(path)
    if not fps > 0:
        raise GanvasError(f"--fps: {fps} must be > 0")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1) if kind == "mp4" else frames[..., 0]
    if kind == "gif":
        _write_gif(path, frames, fps)
    else:
        _write_mp4(path, frames, fps)
    return path


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    pictures = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]
    with atomic_path(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=round(1000 / fps), loop=0)


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary imageio's FFMPEG plugin runs)
    except ImportError:
        raise GanvasError(f"{path.name}: writing MP4 needs the imageio and imageio-ffmpeg "
                          "packages (pip install imageio imageio-ffmpeg), or write a .gif") \
            from None
    # H.264 in yuv420p needs even sides: pad by one black row/column where they are odd.
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    with atomic_path(path) as tmp:
        # The temporary name has no .mp4 suffix, so name the container for ffmpeg.
        iio.imwrite(tmp, frames, extension=".mp4", plugin="FFMPEG", fps=fps, codec="libx264",
                    quality=8, macro_block_size=2, output_params=["-f", "mp4"])
