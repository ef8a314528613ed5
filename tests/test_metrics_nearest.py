"""``ganvas evaluate DATA RUN --nearest``: a generator that returns its training images scores
a memorisation near 1, one that returns noise near 0, and the figure shows each sample beside
its nearest training images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.metrics import evaluation as evaluate_module
from ganvas.metrics import inception
from ganvas.metrics.inception import InceptionV3FID
from ganvas.metrics.nearest import memorisation, nearest, nearest_report
from tests.helpers import TINY, cli, image_folder, train_once

SIZE = 16


@pytest.fixture(autouse=True)
def _small_and_offline(monkeypatch: pytest.MonkeyPatch,
                       random_inception: InceptionV3FID) -> None:
    monkeypatch.setattr(inception, "INPUT_SIZE", 75)
    monkeypatch.setattr(evaluate_module, "load_inception",
                        lambda path=None, device="cpu": random_inception)


def training_images(n: int = 40) -> np.ndarray:
    """Smooth colour ramps of random direction and colour (structured, unlike noise)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, SIZE)
    images = []
    for _ in range(n):
        a, b = rng.uniform(-1, 1, 2)
        field = np.clip(0.5 + 0.5 * (a * ramp[None, :] + b * ramp[:, None]), 0, 1)
        colour = rng.uniform(0.2, 1.0, (3, 1, 1))
        images.append((255 * colour * field[None]).astype(np.uint8))
    return np.stack(images)


class Copier:
    """A 'generator' that returns training image number f(z): pure memorisation."""

    z_dim = 4

    def __init__(self, images: np.ndarray) -> None:
        self.images = torch.from_numpy(images)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        index = (z[:, 0].abs() * 1e4).long() % len(self.images)
        return self.images[index]


class Noise:
    z_dim = 4

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(z[0, 0].abs() * 1e4))
        return torch.randint(0, 256, (len(z), 3, SIZE, SIZE), generator=g, dtype=torch.uint8)


def test_nearest_and_the_score_by_hand() -> None:
    items = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    index, dist = nearest(np.array([[0.0, 1.0]]), items, 2)
    assert index.tolist() == [[0, 2]] and np.allclose(dist, [[1.0, 3.0]])
    loo_index, loo = nearest(items, items, 1, exclude_self=True)
    assert loo_index[:, 0].tolist() == [1, 0, 0] and np.allclose(loo[:, 0], [3, 3, 4])
    share, threshold = memorisation(np.array([0.5, 2.0, 3.5, 9.0]), np.arange(1.0, 101.0))
    assert threshold == pytest.approx(5.95) and share == 0.75  # 0.5, 2, 3.5 below 5.95


def test_copies_score_near_one_and_noise_near_zero(tmp_path: Path) -> None:
    data = training_images()
    copied = nearest_report(data, Copier(data), n=32, out=tmp_path / "copy.png")
    noise = nearest_report(data, Noise(), n=32, out=tmp_path / "noise.png")
    assert copied["memorisation"] >= 0.95 and copied["median_distance"] < 1e-3
    assert noise["memorisation"] == 0.0
    assert "leave-one-out" in copied["protocol"]
    figure = np.asarray(Image.open(tmp_path / "copy.png"))
    assert figure.shape == (2 + 8 * (SIZE + 2), 2 + 4 * (SIZE + 2), 3)  # 8 rows × (1 + 3)
    first_sample = figure[2:2 + SIZE, 2:2 + SIZE]
    first_neighbour = figure[2:2 + SIZE, 4 + SIZE:4 + 2 * SIZE]
    assert np.array_equal(first_sample, first_neighbour)  # a copy's nearest image is itself


def test_held_out_images_set_the_bar(tmp_path: Path) -> None:
    data = training_images()
    result = nearest_report(data[:30], Copier(data[:30]), n=16, held_out=data[30:],
                            out=tmp_path / "f.png")
    assert result["memorisation"] == 1.0 and "10 images' distances" in result["protocol"]


def test_cli_writes_the_figure_and_the_report_shows_it(
        tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture) -> None:
    run = train_once(tmp_path_factory, "nearest", kimg=0.016, **TINY)  # grey, 32 px
    data = image_folder(tmp_path_factory.mktemp("data") / "pictures", n=12, size=24)  # RGB
    code, out, err = cli(capsys, "evaluate", data, run, "--nearest", "--n", "16")
    assert code == 0, err
    assert "memorisation" in out and (run / "nearest.png").is_file()
    saved = json.loads((run / "nearest.json").read_text())
    assert 0.0 <= saved["memorisation"] <= 1.0 and saved["n"] == 16
    assert cli(capsys, "report", run)[0] == 0
    page = (run / "report.html").read_text()
    assert "Is it copying" in page and f"{saved['memorisation']:.3f}" in page


def test_nearest_options_without_nearest_are_one_line_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.helpers import error_line

    data = image_folder(tmp_path / "pictures", n=4, size=16)
    code, _, err = cli(capsys, "evaluate", data, data, "--held-out", data)
    assert code == 2 and "--held-out and --out go with --nearest" in error_line(err)
    code, _, err = cli(capsys, "evaluate", data, "--nearest")
    assert code == 2 and "--nearest: give the training DATA and the RUN" in error_line(err)
