"""Latent arithmetic: the expression parser, its evaluation against a hand computation, the
figure, and errors with their column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganvas.explore.arithmetic import Evaluator, arithmetic, top_terms
from ganvas.explore.expression import ExpressionError, Mean, Scaled, Seed, Sum, parse
from ganvas.render import LatentSpace
from tests.helpers import FakeStyleGAN, cli, error_line, varied_dcgan


def test_precedence_and_the_meaning_of_numbers() -> None:
    assert parse("1 + 2 * 3") == Sum(1, [(1, Seed(1, 1)), (1, Scaled(5, 2.0, Seed(9, 3)))])
    assert parse("(1 + 2) * 0.5") == Scaled(2, 0.5, Sum(2, [(1, Seed(2, 1)), (1, Seed(6, 2))]))
    assert parse("mean(4-6, 9) / 2") == Scaled(1, 0.5, Mean(1, [4, 5, 6, 9]))
    assert parse("-3") == Scaled(1, -1.0, Seed(2, 3))
    assert parse("1 - 2 - 3") == Sum(1, [(1, Seed(1, 1)), (-1, Seed(5, 2)), (-1, Seed(9, 3))])


def test_values_match_a_hand_computation(tmp_path: Path) -> None:
    space = LatentSpace(varied_dcgan()[0])
    z = {s: space.from_seeds([s]) for s in (1, 2, 3, 4, 7)}
    space.save(tmp_path / "photo.npz", torch.cat([z[7], z[1]]), ["p", "q"])
    evaluator = Evaluator(space)
    value = evaluator.value(parse(f"mean(1,2,3) - 0.5*(4 - 2) + @{tmp_path / 'photo.npz'}"))
    expected = (z[1] + z[2] + z[3]) / 3 - 0.5 * (z[4] - z[2]) + (z[7] + z[1]) / 2
    assert torch.allclose(value, expected, atol=1e-6)
    # The same in w, where means are means of mapped latents.
    fake = LatentSpace(FakeStyleGAN())
    w = fake.from_seeds([1, 2, 3])
    assert torch.allclose(Evaluator(fake).value(parse("mean(1,2) - 3")),
                          (w[0] + w[1]) / 2 - w[2], atol=1e-6)


def test_figure_columns_follow_the_top_level_terms() -> None:
    terms = top_terms(parse("mean(1,2) - 0.5*mean(3,4) + -5"))
    assert [op for op, _ in terms] == ["", "-", "-"]
    assert terms[1][1] == Scaled(13, 0.5, Mean(17, [3, 4])) and terms[2][1] == Seed(30, 5)


@pytest.mark.parametrize("text, column, what", [
    ("mean(12,40 77)", 12, "expected ')'"),
    ("mean(1,2) - ", 13, "expected a seed"),
    ("mean(1)*mean(2)", 8, "cannot multiply two latents"),
    ("3 / mean(1)", 3, "can only divide by a number"),
    ("1.5 + 2", 1, "1.5 is not a seed"),
    ("(1 + 2", 7, "expected ')'"),
    ("1 2", 3, "unexpected '2'"),
    ("mean(5-2)", 6, "runs backwards"),
])
def test_syntax_errors_name_their_column(text: str, column: int, what: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.column == column and what in str(caught.value)
    assert str(caught.value).endswith(f"at column {column}")
    assert caught.value.pointer.splitlines()[1].index("^") == column + 1  # 2-space indent


def test_result_and_figure(tmp_path: Path) -> None:
    G, _ = varied_dcgan()
    paths = arithmetic(G, "mean(1,2,3) - mean(4,5) + 6", tmp_path)
    space = LatentSpace(G)
    z = space.from_seeds(range(7))
    expected = z[1:4].mean(0, keepdim=True) - z[4:6].mean(0, keepdim=True) + z[6:7]
    with Image.open(paths["result"]) as result:
        assert np.array_equal(np.asarray(result), space.render(expected)[0, 0])
    saved, _ = space.load(paths["latent"])
    assert torch.allclose(saved, expected, atol=1e-6)
    with Image.open(paths["figure"]) as figure:
        width, height = figure.size
    # Members enlarged 3x (96 px) with captions: 4 rows (3 members + mean), 4 image columns.
    assert height > 4 * 96 and width > 4 * 96


def test_cli_prints_a_caret_above_the_error(tmp_path: Path, tiny_run: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "arithmetic", tiny_run, "mean(1,2) + (3", "--out", tmp_path / "a")
    assert code == 2
    assert error_line(err) == "ganvas: error: arithmetic: expected ')', found the end at column 15"
    assert "  mean(1,2) + (3\n" + " " * 16 + "^" in err
    assert not (tmp_path / "a").exists()
    code, out, _ = cli(capsys, "arithmetic", tiny_run, "mean(12,40,77) - mean(3,9) + mean(51,60)",
                       "--out", tmp_path / "a")
    assert code == 0 and sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "figure.png", "result.npz", "result.png"]
    code, _, err = cli(capsys, "arithmetic", tiny_run, "@missing.npz", "--out", tmp_path / "b")
    assert code == 2 and "missing.npz: no such latent file" in error_line(err)
