"""Face crop: find the largest frontal face with OpenCV's bundled Haar cascade.

The cascade ships inside ``opencv-python-headless`` 4.x (``cv2.data.haarcascades``), so nothing is
downloaded. It is loaded once per worker process. Haar detection is the slow step of a face crop
(about 10 ms per image on one core), so it runs on a copy whose short side is at most
``DETECT_SIDE`` pixels and looks only for faces at least ``MIN_FACE_FRACTION`` of that side: a
portrait meant for a GAN has a large face, and a photo whose faces are all small falls back to a
centre crop.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ganvas.errors import GanvasError

CASCADE = "haarcascade_frontalface_default.xml"
DETECT_SIDE = 96  # short side of the copy the detector sees: smallest face = 24 px, Haar's window
MIN_FACE_FRACTION = 0.25  # smallest face searched for, as a fraction of the short side

Box = tuple[int, int, int, int]  # x, y, width, height


def _load_cascade() -> Any:
    try:
        import cv2
    except ImportError:
        raise GanvasError("--crop face: needs opencv-python-headless (pip install "
                          "'opencv-python-headless<5')") from None
    cascades = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or not cascades:
        raise GanvasError(f"--crop face: OpenCV {cv2.__version__} ships no Haar cascade "
                          "(removed in OpenCV 5); install 'opencv-python-headless<5'")
    cascade = cv2.CascadeClassifier(cascades + CASCADE)
    if cascade.empty():
        raise GanvasError(f"--crop face: cannot load {cascades + CASCADE}")
    cv2.setNumThreads(1)  # one process per core already
    return cascade


class FaceDetector:
    """Largest-face detector; the cascade is loaded on first use."""

    def __init__(self) -> None:
        self._cascade: Any = None

    def load(self) -> None:
        """Load the cascade now (workers do it once, at start, so errors surface early)."""
        if self._cascade is None:
            self._cascade = _load_cascade()

    def largest_face(self, grey: np.ndarray) -> Box | None:
        """Bounding box of the largest face in a uint8 H×W image, in its pixel coordinates."""
        import cv2

        self.load()
        h, w = grey.shape
        scale = min(1.0, DETECT_SIDE / min(h, w))
        small = grey if scale == 1.0 else cv2.resize(
            grey, (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA)
        min_face = max(20, int(min(small.shape) * MIN_FACE_FRACTION))
        faces = self._cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5,
                                               minSize=(min_face, min_face))
        if len(faces) == 0:
            return None
        x, y, fw, fh = max(faces, key=lambda f: int(f[2]) * int(f[3]))
        return (round(x / scale), round(y / scale), round(fw / scale), round(fh / scale))


def face_square(face: Box, margin: float, width: int, height: int) -> Box:
    """Square of side ``face·(1+margin)`` centred on the face, shifted to stay inside the image.

    Along an axis where the image is shorter than the square, the square covers the whole image
    (still as close to face-centred as possible) and the rest is padded by the caller."""
    x, y, fw, fh = face
    side = max(1, math.ceil(max(fw, fh) * (1.0 + margin)))

    def place(centre: float, length: int) -> int:
        lo, hi = sorted((0, length - side))
        return int(min(max(round(centre - side / 2), lo), hi))

    return (place(x + fw / 2, width), place(y + fh / 2, height), side, side)
