"""Interpolation walks and the videos they become (MP4 through imageio-ffmpeg, GIF through PIL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.explore.interpolate import interpolation_frames, walk
from ganvas.render import LatentSpace, slerp
from tests.helpers import FakeStyleGAN, cli, error_line, varied_dcgan


def test_walk_hits_every_key_seed_and_slerps_between() -> None:
    space = LatentSpace(varied_dcgan()[0])
    keys = space.from_seeds([1, 5, 9])
    latents = walk(space, [1, 5, 9], frames=4)
    assert len(latents) == 2 * 4 + 1
    assert torch.equal(latents[0], keys[0]) and torch.equal(latents[4], keys[1])
    assert torch.equal(latents[8], keys[2])
    assert torch.allclose(latents[6], slerp(keys[1:2], keys[2:3], torch.tensor([0.5]))[0])
    looped = walk(space, [1, 5, 9], frames=4, loop=True)
    assert len(looped) == 3 * 4 and torch.allclose(looped[11], slerp(
        keys[2:3], keys[0:1], torch.tensor([0.75]))[0])


def test_walk_in_w_is_linear() -> None:
    space = LatentSpace(FakeStyleGAN())
    keys = space.from_seeds([2, 3])
    middle = walk(space, [2, 3], frames=2)[1]
    assert torch.allclose(middle, (keys[0] + keys[1]) / 2)


def test_grid_cells_walk_offset_seeds() -> None:
    space = LatentSpace(varied_dcgan()[0])
    frames = interpolation_frames(space, [1, 5], frames=3, grid=(2, 1))
    assert frames.shape == (4, 2 + 34, 2 + 2 * 34, 1)
    seeds_images = space.render(space.from_seeds([1, 2, 5, 6]))  # cell 1 walks 2 -> 6
    assert np.array_equal(frames[0, 2:34, 2:34, 0], seeds_images[0, 0])
    assert np.array_equal(frames[0, 2:34, 36:68, 0], seeds_images[1, 0])
    assert np.array_equal(frames[3, 2:34, 36:68, 0], seeds_images[3, 0])


def test_mp4_and_gif_have_every_frame(tmp_path: Path, tiny_run: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    import imageio.v3 as iio

    code, out, _ = cli(capsys, "interpolate", tiny_run, "--seeds", "1,5,9", "--frames", 5,
                       "--out", tmp_path / "walk.mp4", "--loop", "--grid", "2x2", "--fps", 10)
    assert code == 0 and "walk.mp4" in out
    video = iio.imread(tmp_path / "walk.mp4", plugin="FFMPEG")
    assert video.shape == (15, 70, 70, 3)
    code, _, _ = cli(capsys, "interpolate", tiny_run, "--seeds", "1,5", "--frames", 5,
                     "--out", tmp_path / "walk.gif")
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 6 and gif.size == (32, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.gif", "walk.mp4"]  # no temps


@pytest.mark.parametrize("args, needles", [
    (["--seeds", "3", "--out", "w.gif"], ["--seeds", "at least two"]),
    (["--seeds", "1,2", "--out", "w.avi"], ["--out", "'w.avi'", ".mp4 or .gif"]),
    (["--seeds", "1,2", "--out", "w.gif", "--frames", "0"], ["--frames", ">= 1"]),
    (["--seeds", "1,2", "--out", "w.gif", "--grid", "0x2"], ["--grid", "'0x2'"]),
    (["--seeds", "1,2", "--out", "w.gif", "--fps", "0"], ["--fps", "> 0"]),
])
def test_bad_input_is_one_line(args: list[str], needles: list[str], tmp_path: Path,
                               tiny_run: Path, capsys: pytest.CaptureFixture,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "interpolate", tiny_run, *args)
    line = error_line(err)
    assert code == 2 and all(needle in line for needle in needles), line
    assert list(tmp_path.iterdir()) == []
