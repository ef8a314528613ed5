"""TensorBoardLogger: what it writes is what TensorBoard's own reader gets back."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.errors import GanvasError

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from ganvas.training.tensorboard import TensorBoardLogger, hwc_rgb, scalar_tag  # noqa: E402
from ganvas.utils.grid import make_grid  # noqa: E402


def read_back(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_scalars_and_image_read_back(tmp_path: Path) -> None:
    records = [{"step": 10, "kimg": 0.64, "loss_D": 1.25, "loss_G": 0.75, "D_real": 0.5,
                "ada_p": 0.125, "note": "text", "finished": True, "bad": float("nan")},
               {"step": 20, "kimg": 1.28, "loss_D": 1.0, "loss_G": 1.5, "D_real": 0.625}]
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (4, 1, 8, 8), dtype=np.uint8))
    grid_hwc = make_grid(images)  # H×W×1, as the run folder's grids
    with TensorBoardLogger(tmp_path) as logger:
        for record in records:
            logger.log_scalars(record, record["step"])
        logger.log_image("samples", grid_hwc, step=20)
        logger.log_image("samples_chw", grid_hwc.transpose(2, 0, 1), step=20)

    events = read_back(tmp_path)
    assert list(tmp_path.glob("events.out.tfevents.*"))
    tags = set(events.Tags()["scalars"])
    assert {"loss/loss_D", "loss/loss_G", "discriminator/D_real", "ada/ada_p",
            "progress/kimg"} <= tags
    assert not {t for t in tags if t.endswith(("step", "note", "finished", "bad"))}
    for key in ("loss_D", "loss_G", "D_real"):
        got = [(e.step, e.value) for e in events.Scalars(scalar_tag(key))]
        assert got == [(r["step"], pytest.approx(r[key])) for r in records]

    expected = np.repeat(grid_hwc, 3, axis=2)
    for tag in ("samples", "samples_chw"):
        (event,) = events.Images(tag)
        assert event.step == 20 and (event.height, event.width) == grid_hwc.shape[:2]
        decoded = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))
        np.testing.assert_array_equal(decoded, expected)


def test_image_layouts_are_recognised() -> None:
    rgb = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    np.testing.assert_array_equal(hwc_rgb(rgb.transpose(2, 0, 1)), rgb)
    np.testing.assert_array_equal(hwc_rgb(torch.from_numpy(rgb)), rgb)
    assert hwc_rgb(rgb[:, :, 0]).shape == (2, 5, 3)
    with pytest.raises(TypeError, match="uint8"):
        hwc_rgb(rgb.astype(np.float32))


def test_missing_tensorboard_is_a_clear_error(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(GanvasError, match="--tensorboard: install tensorboard"):
        TensorBoardLogger(tmp_path)
