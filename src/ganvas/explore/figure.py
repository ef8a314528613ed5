"""The latent-arithmetic figure, laid out like figure 7 of the DCGAN paper.

Each term is a column: its member images stacked above its value (their mean, or the scaled
term), the values side by side on the bottom row with the operators between them, then "=" and
the result. Small images are enlarged (nearest neighbour, so pixels stay honest) to be readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MIN_CELL = 96        # images smaller than this are enlarged by a whole factor
CAPTION = 16         # caption line under each image
GAP = 6              # space between rows and around the figure
OPERATOR_WIDTH = 40  # column holding +, -, =
INK, PAPER, RULE = (0, 0, 0), (255, 255, 255), (150, 150, 150)


@dataclass
class Panel:
    """One column: ``images`` (uint8 K×C×H×W) with a caption each; with ``has_value`` the last
    image is the term's value (drawn on the bottom row) and the others its members."""

    operator: str
    captions: list[str]
    images: np.ndarray
    has_value: bool

    @property
    def members(self) -> int:
        return len(self.images) - 1 if self.has_value else 0


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, font: ImageFont.ImageFont) -> str:
    """``text``, shortened with an ellipsis until it fits ``width`` pixels."""
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text


def draw_figure(panels: list[Panel]) -> np.ndarray:
    """The figure as an H×W×3 uint8 image."""
    _, _, height, width = panels[0].images.shape
    scale = max(1, math.ceil(MIN_CELL / max(height, width)))
    cell_w, cell_h = width * scale, height * scale
    row_h = cell_h + CAPTION + GAP
    rows = max(panel.members for panel in panels) + 1
    columns_w = sum(cell_w + (OPERATOR_WIDTH if panel.operator else 0) for panel in panels)
    canvas = Image.new("RGB", (columns_w + 2 * GAP, rows * row_h + GAP), PAPER)
    draw = ImageDraw.Draw(canvas)
    caption_font, operator_font = _font(11), _font(28)
    x = GAP
    for panel in panels:
        bottom_y = GAP + (rows - 1) * row_h
        if panel.operator:
            draw.text((x + OPERATOR_WIDTH / 2, bottom_y + cell_h / 2), panel.operator,
                      fill=INK, font=operator_font, anchor="mm")
            x += OPERATOR_WIDTH
        first_row = rows - 1 - panel.members
        for i, (caption, image) in enumerate(zip(panel.captions, panel.images)):
            y = GAP + (first_row + i) * row_h
            picture = Image.fromarray(_hwc_rgb(image)).resize((cell_w, cell_h), Image.NEAREST)
            canvas.paste(picture, (x, y))
            draw.text((x + cell_w / 2, y + cell_h + 2), _fit(draw, caption, cell_w, caption_font),
                      fill=INK, font=caption_font, anchor="ma")
        if panel.members:  # a rule between the members and their value, as in a sum
            draw.line((x, bottom_y - GAP // 2, x + cell_w, bottom_y - GAP // 2), fill=RULE)
        x += cell_w
    return np.asarray(canvas)


def _hwc_rgb(image: np.ndarray) -> np.ndarray:
    """C×H×W uint8 (C = 1 or 3) -> H×W×3."""
    hwc = image.transpose(1, 2, 0)
    return np.ascontiguousarray(np.repeat(hwc, 3, axis=2) if hwc.shape[2] == 1 else hwc)
