"""What every handler of the page shares: user mistakes as Gradio's one-line error."""

from __future__ import annotations

import functools
from typing import Any, Callable

import gradio as gr
import numpy as np

from ganvas.errors import GanvasError


def friendly(handler: Callable) -> Callable:
    """A handler whose GanvasError shows as the page's one-line error, not a traceback."""
    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except GanvasError as exc:
            raise gr.Error(str(exc)) from None
    return wrapped


def gallery(label: str, columns: int, **options: Any) -> gr.Gallery:
    """A gallery of whole images (never cropped), as many columns as asked, saved as PNG."""
    settings = dict(fit_columns=False, object_fit="contain", height="auto", format="png")
    return gr.Gallery(label=label, columns=columns, **{**settings, **options})


def displayable(images: np.ndarray) -> np.ndarray:
    """Images (…×H×W×C uint8) as Gradio shows them: grey ones without the channel axis."""
    return images[..., 0] if images.shape[-1] == 1 else images


def output_image(label: str, **options: Any) -> gr.Image:
    """An output image, sent as PNG (exact pixels; Gradio's default, WebP, may not be)."""
    return gr.Image(label=label, **{"format": "png", "interactive": False, **options})
