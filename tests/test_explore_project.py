"""Projection: recovering the latent of an image the generator made itself, in z and in w."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.render import LatentSpace
from ganvas.explore.project import FeatureTap, load_photo, project_latent
from tests.helpers import FakeStyleGAN, cli, error_line, varied_dcgan


def test_projection_in_z_recovers_a_generated_image() -> None:
    G, D = varied_dcgan()
    space = LatentSpace(G)
    target = space.render(space.from_seeds([7]))[0]
    result = project_latent(space, target, D, steps=100, lr=0.05, feature_weight=1.0, seed=0)
    assert result.final_distance < result.start_distance / 100
    assert result.final_distance < 1e-4  # in [-1, 1] units: under one grey level on average
    assert len(result.frames) >= 50 and result.frames[0].shape == (36, 70, 1)


def test_projection_in_w_starts_from_w_avg_and_recovers() -> None:
    G = FakeStyleGAN()
    space = LatentSpace(G)
    target = space.render(space.from_seeds([4]))[0]
    result = project_latent(space, target, None, steps=150, lr=0.1)
    assert result.latent.shape == (1, 3, 6)
    assert torch.equal(result.latent[0, 0], result.latent[0, 2])  # one w for every layer
    assert result.final_distance < result.start_distance / 20


def test_discriminator_features_one_map_per_scale() -> None:
    _, D = varied_dcgan()
    features = FeatureTap(D)(torch.zeros(2, 1, 32, 32))
    assert [tuple(f.shape[-2:]) for f in features] == [(16, 16), (8, 8), (4, 4)]
    assert all(f.shape[0] == 2 for f in features)


def test_photo_is_centre_cropped_and_resized(tmp_path: Path) -> None:
    wide = np.zeros((40, 80, 3), dtype=np.uint8)
    wide[:, 20:60] = 255  # the centre square is white, the sides black
    Image.fromarray(wide).save(tmp_path / "wide.png")
    grey = load_photo(tmp_path / "wide.png", resolution=8, channels=1)
    assert grey.shape == (1, 8, 8) and grey.min() == 255


def test_cli_writes_everything_and_the_latent_renders_again(
        tmp_path: Path, tiny_run: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, _ = cli(capsys, "generate", tiny_run, "--seeds", 3, "--out", tmp_path)
    code, out, _ = cli(capsys, "project", tiny_run, tmp_path / "seed0003.png", "--steps", 20,
                       "--out", tmp_path / "p", "--video-format", "gif")
    assert code == 0 and "pixel MSE" in out
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "latent.npz", "progress.gif", "projected.png", "target.png"]
    code, _, _ = cli(capsys, "generate", tiny_run, "--latents", tmp_path / "p" / "latent.npz",
                     "--out", tmp_path / "again")
    again = tmp_path / "again" / "seed0003.png"  # labelled with the photo's name
    assert again.read_bytes() == (tmp_path / "p" / "projected.png").read_bytes()
    code, _, err = cli(capsys, "project", tiny_run, tmp_path / "nope.png", "--out",
                       tmp_path / "q")
    assert code == 2 and "nope.png: no such image" in error_line(err)
