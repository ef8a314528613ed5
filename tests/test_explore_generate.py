"""``ganvas generate``: counts, grids, formats, truncation, saved latents and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganvas.render import LatentSpace
from ganvas.explore.generate import generate
from ganvas.render import load_generator
from tests.helpers import cli, error_line


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_count_writes_numbered_seeds_in_batches(tmp_path: Path, tiny_run: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    code, out, _ = cli(capsys, "generate", tiny_run, "--count", 5, "--batch", 2, "--out",
                       tmp_path / "set")
    assert code == 0 and "wrote 5 image(s)" in out
    assert sorted(os.listdir(tmp_path / "set")) == [f"seed{i:04d}.png" for i in range(5)]
    code, _, _ = cli(capsys, "generate", tiny_run, "--count", 2, "--seeds", "40-49", "--out",
                     tmp_path / "first2", "--format", "jpg")
    assert code == 0 and sorted(os.listdir(tmp_path / "first2")) == ["seed0040.jpg",
                                                                     "seed0041.jpg"]
    with Image.open(tmp_path / "first2" / "seed0040.jpg") as image:
        assert image.format == "JPEG" and image.size == (32, 32)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_seed_gives_the_same_file_alone_or_with_others(tmp_path: Path, tiny_run: Path,
                                                         precision: str) -> None:
    together = generate(tiny_run, [3, 4, 5], tmp_path / "a", batch=2, precision=precision)
    alone = generate(tiny_run, [4], tmp_path / "b", batch=2, precision=precision)
    assert together[1].name == alone[0].name == "seed0004.png"
    assert together[1].read_bytes() == alone[0].read_bytes()


def test_grid_columns_by_rows_and_the_square_flag(tmp_path: Path, tiny_run: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    code, _, _ = cli(capsys, "generate", tiny_run, "--grid", "4x2", "--out", tmp_path / "g")
    assert code == 0
    grid = pixels(tmp_path / "g" / "grid.png")
    assert grid.shape == (2 + 2 * 34, 2 + 4 * 34)  # 32 px tiles, 2 px padding
    singles = generate(tiny_run, list(range(8)), tmp_path / "s")
    # Row 1, column 2 of the grid is seed 6.
    assert np.array_equal(grid[36:68, 70:102], pixels(singles[6]))
    code, _, _ = cli(capsys, "generate", tiny_run, "--seeds", "0-3", "--out", tmp_path / "q",
                     "--grid")
    assert code == 0 and pixels(tmp_path / "q" / "grid.png").shape == (70, 70)


def test_truncation_changes_images_and_latents_files_render_exactly(
        tmp_path: Path, tiny_run: Path, capsys: pytest.CaptureFixture) -> None:
    plain = generate(tiny_run, [7], tmp_path / "plain")[0]
    truncated = generate(tiny_run, [7], tmp_path / "trunc", truncation_psi=0.5)[0]
    assert plain.read_bytes() != truncated.read_bytes()
    space = LatentSpace(load_generator(tiny_run), truncation_psi=0.5)
    space.save(tmp_path / "saved.npz", space.from_seeds([7, 9]), ["mine", "yours"])
    code, _, _ = cli(capsys, "generate", tiny_run, "--latents", tmp_path / "saved.npz",
                     "--out", tmp_path / "from-file")
    assert code == 0 and sorted(os.listdir(tmp_path / "from-file")) == ["mine.png", "yours.png"]
    assert (tmp_path / "from-file" / "mine.png").read_bytes() == truncated.read_bytes()


@pytest.mark.parametrize("args, needles", [
    (["--seeds", "5-2"], ["--seeds", "backwards"]),
    (["--grid", "4by2"], ["--grid", "'4by2'", "COLUMNSxROWS"]),
    (["--grid", "2x2", "--seeds", "0-4"], ["--grid", "holds 4 images, not 5"]),
    (["--count", "3", "--seeds", "1,2"], ["--count", "lists only 2"]),
    (["--count", "0"], ["--count", "must be >= 1"]),
    (["--trunc", "-1"], ["--trunc", "must be > 0"]),
    (["--noise-mode", "random"], ["--noise-mode", "no noise inputs"]),
    (["--latents", "nope.npz"], ["nope.npz", "no such latent file"]),
    (["--latents", "x.npz", "--seeds", "1"], ["--latents", "drop --seeds"]),
    (["--format", "bmp"], ["--format", "'bmp'"]),
    (["--batch", "0"], ["--batch", "must be >= 1"]),
])
def test_bad_input_is_one_line(args: list[str], needles: list[str], tmp_path: Path,
                               tiny_run: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "generate", tiny_run, "--out", tmp_path / "o", *args)
    line = error_line(err)
    assert code == 2 and all(needle in line for needle in needles), line


def test_missing_run_and_unwritable_out(tmp_path: Path, tiny_run: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "generate", tmp_path / "no-run", "--out", tmp_path / "o")
    assert code == 2 and "no such run folder or checkpoint" in error_line(err)
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep")
    code, _, err = cli(capsys, "generate", tiny_run, "--out", blocker / "sub")
    assert code == 2 and "--out: cannot write to" in error_line(err)
    assert blocker.read_text() == "keep"
