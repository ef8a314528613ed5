"""Options of the other model family are refused in one line instead of silently ignored, and
StyleGAN2's batch is checked against its minibatch-stddev groups and the process count."""

from __future__ import annotations

import pytest

from ganvas.config import resolve
from ganvas.errors import GanvasError
from tests.helpers import cli, error_line


@pytest.mark.parametrize("option, value, owner", [
    ("r1", 5.0, "dcgan"), ("r1_every", 4, "dcgan"), ("d_norm", "spectral", "dcgan"),
    ("layers", 5, "dcgan"), ("d_dropout", 0.2, "dcgan"), ("g_channels", 32, "dcgan")])
def test_a_dcgan_option_under_stylegan2_is_refused(option: str, value: object,
                                                   owner: str) -> None:
    flag = "--" + option.replace("_", "-")
    with pytest.raises(GanvasError, match=f"^{flag}: --model stylegan2 does not use it.*"
                                          f"--model {owner}"):
        resolve({"model": "stylegan2", option: value})
    resolve({"model": owner, option: value})  # its own family takes it


@pytest.mark.parametrize("option, value", [("gamma", 1.0), ("pl_weight", 0.0), ("cfg", "small"),
                                           ("w_dim", 64), ("style_mixing", 0.5)])
def test_a_stylegan2_option_under_dcgan_is_refused(option: str, value: object) -> None:
    flag = "--" + option.replace("_", "-")
    with pytest.raises(GanvasError, match=f"^{flag}: --model dcgan does not use it; it is an "
                                          "option of --model stylegan2"):
        resolve({"model": "dcgan", option: value})
    chosen = resolve({"resolution": 32, option: value})  # without --model it picks its family
    assert chosen.model == "stylegan2" and "its own options were given" in chosen.why


def test_wgan_with_spectral_norm_under_stylegan2_is_refused(capsys: pytest.CaptureFixture) -> None:
    """It passed the Lipschitz check but trained an unconstrained critic."""
    code, _, err = cli(capsys, "train", "mnist", "--model", "stylegan2", "--loss", "wgan",
                       "--d-norm", "spectral", "--dry-run")
    assert code != 0
    assert "--d-norm: --model stylegan2 does not use it" in error_line(err)


def test_a_preset_or_config_file_option_is_checked_too(tmp_path) -> None:
    toml = tmp_path / "exp.toml"
    toml.write_text("d_dropout = 0.3\n")
    with pytest.raises(GanvasError, match="--d-dropout"):
        resolve({"model": "stylegan2"}, config_file=str(toml))


def test_stylegan2_batch_that_does_not_split_into_groups_is_one_line(
        tmp_path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = cli(capsys, "train", "mnist", "--model", "stylegan2", "--cfg", "small",
                       "--batch", "10", "--kimg", "0.02", "--outdir", tmp_path)
    assert code != 0
    assert "--batch: 10 does not split" in error_line(err)


def test_cfg_auto_sizes_the_batch_by_the_process_count(monkeypatch: pytest.MonkeyPatch) -> None:
    one = resolve({"model": "stylegan2", "resolution": 256})
    monkeypatch.setenv("WORLD_SIZE", "8")
    eight = resolve({"model": "stylegan2", "resolution": 256})
    assert (one.optim.batch, eight.optim.batch) == (16, 64)  # the reference: min(4096 // res, 32) per GPU
    assert eight.family.mbstd_group == 4
