"""The nested config: each group owned by its layer or family, a flat command line generated from
it, and runs saved before the grouping (flat config.json and checkpoints) still loading,
resuming and generating.

``tests/data/config-before-groups-*.json`` are the configs that the code before the grouping
wrote for ``TINY`` and ``SG2`` (``TrainConfig.to_dict()`` at commit 6a8c527).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ganvas
from ganvas.config import OPTIONS, from_dict, resolve
from ganvas.errors import GanvasError
from tests.helpers import SG2, TINY, cli

DATA = Path(__file__).parent / "data"
FAMILY_OPTIONS = {"dcgan": TINY, "stylegan2": SG2}


def before_groups(model: str) -> dict:
    return json.loads((DATA / f"config-before-groups-{model}.json").read_text())


@pytest.mark.parametrize("model", ["dcgan", "stylegan2"])
def test_a_flat_config_from_before_loads_as_the_same_config(model: str) -> None:
    old = from_dict(before_groups(model))
    new = resolve(dict(FAMILY_OPTIONS[model], resolution=32))
    assert old.to_dict() == new.to_dict()
    assert set(old.to_dict()) == {"model", "data", "run", "optim", "objective", model}


def as_before(run_dir: Path, model: str) -> None:
    """Rewrite a run as the code before the grouping left it: flat configs everywhere."""
    flat = before_groups(model)
    for path in (run_dir / "checkpoints").glob("*.pt"):
        state = torch.load(path, weights_only=True)
        run = state["config"]["run"]
        state["config"] = dict(flat, kimg=run["kimg"], outdir=run["outdir"],
                               snapshot_kimg=run["snapshot_kimg"])
        torch.save(state, path)
    saved = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps(
        {**flat, "preset": saved.get("preset"), "dataset": saved["dataset"]}))


@pytest.mark.parametrize("model", ["dcgan", "stylegan2"])
def test_a_run_from_before_resumes_generates_and_reports(model: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    options = dict(FAMILY_OPTIONS[model], snapshot_kimg=0.032)
    old = ganvas.train(outdir=str(tmp_path / "old"), kimg=0.032, progress=False, **options)
    new = ganvas.train(outdir=str(tmp_path / "new"), kimg=0.032, progress=False, **options)
    as_before(old.run_dir, model)
    for run in (old, new):
        ganvas.train(resume=run.run_dir, kimg=0.064, progress=False)
    a = torch.load(old.run_dir / "checkpoints/latest.pt", weights_only=True)
    b = torch.load(new.run_dir / "checkpoints/latest.pt", weights_only=True)
    for key in b["G"]:
        assert torch.equal(a["G"][key], b["G"][key]), key
    for saved in (a, b):  # the resumed run now saves the nested config
        saved["config"]["run"].pop("outdir")
    assert a["config"] == b["config"]
    code, _, err = cli(capsys, "generate", old.run_dir, "--seeds", "0-1", "--out",
                       tmp_path / "images")
    assert code == 0, err
    assert cli(capsys, "report", old.run_dir)[0] == 0
    page = (old.run_dir / "report.html").read_text()
    assert "stylegan2" in page if model == "stylegan2" else "g_channels" in page


def test_config_json_holds_the_groups_the_run_uses(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    run = ganvas.train(outdir=str(tmp_path), kimg=0.016, progress=False, **SG2).run_dir
    saved = json.loads((run / "config.json").read_text())
    assert {"data", "run", "optim", "objective", "stylegan2"} <= set(saved)
    assert "dcgan" not in saved and "g_channels" not in json.dumps(saved)
    assert saved["stylegan2"]["config_name"] == "small"
    assert cli(capsys, "report", run)[0] == 0
    page = (run / "report.html").read_text()
    assert "g_channels" not in page and "config_name" not in page and "cfg" in page


def test_every_option_belongs_to_one_group_and_has_one_flag() -> None:
    for name, declarations in OPTIONS.items():
        groups = {d.group for d in declarations}
        shared = groups & {"data", "run", "optim", "objective", ""}
        assert len(shared) <= 1 and (not shared or len(groups) == 1), name
        assert len({d.flag for d in declarations}) == 1, name
        assert all(d.meta["help"] for d in declarations), name


def test_the_command_line_is_flat_and_cfg_keeps_its_flag(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = cli(capsys, "train", "mnist", "--model", "stylegan2", "--cfg", "small",
                       "--resolution", "32", "--dry-run")
    assert code == 0 and json.loads(out)["stylegan2"]["config_name"] == "small"
    code, out, _ = cli(capsys, "train", "--help")
    assert "StyleGAN2 (--model stylegan2)" in out and "--cfg" in out and "--r1-every" in out
    with pytest.raises(GanvasError, match="unknown option 'config_name'"):  # the flag is --cfg
        resolve({"config_name": "small"})
