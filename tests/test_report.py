"""``ganvas report``: one self-contained, escaped HTML page built from what a run folder holds."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import ganvas
from ganvas.cli import run as cli_run
from ganvas.errors import GanvasError
from ganvas.report import write_report, write_run_report
from ganvas.utils.charts import moving_average
from ganvas.report.commands import report_command
from ganvas.report.compare import differing_settings
from ganvas.report.document import evenly_spaced
from ganvas.report.run_data import load_run
from tests.helpers import TINY

HOSTILE = "<script>alert(1)&amp"  # no "/": it is part of the folder name


class PageParts(HTMLParser):
    """Collects tags, image sources and every attribute that could reach the network."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "src":
                self.images.append(value)
            elif name in ("href", "action", "srcset"):
                self.links.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> tuple[str, PageParts]:
    document = path.read_text(encoding="utf-8")
    parts = PageParts()
    parts.feed(document)
    return document, parts


def decode_png(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny run with three sample grids (0, 1 and 2 kimg) and a hostile description."""
    outdir = tmp_path_factory.mktemp("runs")
    options = {**TINY, "batch": 32, "log_every": 8, "snapshot_kimg": 1.0}
    result = ganvas.train(outdir=str(outdir), kimg=2.0, desc=HOSTILE, progress=False, **options)
    return result.run_dir


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / trained_run.name
    shutil.copytree(trained_run, copy, ignore=shutil.ignore_patterns("checkpoints"))
    return copy


def test_report_is_self_contained_and_escaped(run_copy: Path) -> None:
    with open(run_copy / "log.txt", "a", encoding="utf-8") as f:
        f.write("2030-01-01 00:00:00  warning: the discriminator has won <b>really</b>\n")
    out = write_run_report(run_copy)
    document, parts = parse(out)
    assert out == run_copy / "report.html"
    assert "script" not in parts.tags and "link" not in parts.tags and not parts.links
    assert "<script>" not in document and "<b>really" not in document
    assert "&lt;script&gt;alert(1)&amp;amp" in document  # folder name, config
    assert any("warning: the discriminator has won <b>really</b>" in t for t in parts.text)
    # Every picture is inline and decodes: 3 evolution thumbnails, final, reals, charts.
    assert parts.images and all(src.startswith("data:image/png;base64,") for src in parts.images)
    sizes = [decode_png(src).size for src in parts.images]
    reals = Image.open(run_copy / "reals.png")
    assert reals.size in sizes
    run = load_run(run_copy)
    assert [kimg for kimg, _ in run.fakes] == [0, 1, 2]
    for kimg in (0, 1, 2):
        assert f"{kimg:,} kimg</figcaption>" in document
    # Losses, D scores, accuracy, speed: four charts for a run without metrics.
    assert len(parts.images) == 3 + 2 + 4


def test_summary_and_metric_table_follow_the_files(run_copy: Path) -> None:
    stats = [json.loads(line) for line in (run_copy / "stats.jsonl").read_text().splitlines()]
    records = [{"step": 32, "kimg": 1.024, "fid": 250.5, "kid_mean": 0.25, "kid_std": 0.01,
                "seconds": 3.0, "protocol": "fid over <8> images & stuff"},
               {"step": 63, "kimg": 2.016, "fid": 301.25, "kid_mean": 0.3, "kid_std": 0.02,
                "seconds": 3.0, "protocol": "fid over <8> images & stuff"}]
    (run_copy / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with_ada = [{**r, "ada_p": 0.1 * i, "ada_rt": 0.6} for i, r in enumerate(stats)]
    (run_copy / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in with_ada))
    document, parts = parse(write_report([run_copy], run_copy / "r.html"))
    text = " ".join(parts.text)
    assert f"{stats[-1]['kimg'] * 1000:,.0f}" in text            # images seen
    shown = re.search(r"<b>([\d,.]+)</b><span>images / s</span>", document).group(1)
    img_per_s = stats[-1]["kimg"] * 1000 / stats[-1]["time_s"]
    assert float(shown.replace(",", "")) == pytest.approx(img_per_s, rel=5e-3)  # 3 figures
    assert "final FID" in text and "301.2" in text                 # final, 4 significant figures
    assert "best FID, at 1.024 kimg" in text and "250.5" in text  # best
    protocol_at = text.index("protocol:")
    metric_table = text[text.rindex("Metrics", 0, protocol_at):protocol_at]
    assert "FID" in metric_table and "precision" not in metric_table  # no unmeasured column
    assert "0.25 ± 0.01" in text
    assert "protocol: fid over <8> images & stuff" in text
    assert "&lt;8&gt; images &amp; stuff" in document
    assert len(parts.images) == 3 + 2 + 4 + 2 + 1                  # + FID, KID and ADA


def test_partial_run_folders_never_break_the_report(tmp_path: Path, trained_run: Path) -> None:
    only_config = tmp_path / "00001-config-only"
    only_config.mkdir()
    shutil.copy(trained_run / "config.json", only_config)
    document, parts = parse(write_run_report(only_config))
    assert "No statistics logged yet" in document and "No metrics were measured" in document
    assert "final samples: not available" in document and not parts.images

    torn = tmp_path / "00002-torn"
    torn.mkdir()
    lines = (trained_run / "stats.jsonl").read_text().splitlines()
    (torn / "stats.jsonl").write_text("\n".join(lines[:2]) + '\n{"step": 99, "kim')
    (torn / "metrics.jsonl").write_bytes(b"\xff\xfe not json\n")
    (torn / "fakes_000003.png").write_bytes(b"not a png")
    document, parts = parse(write_run_report(torn))
    assert "config.json is missing" in document and "still running" in document
    assert len(parts.images) == 4  # charts from the two whole records; the broken PNG is noted

    empty = tmp_path / "not-a-run"
    empty.mkdir()
    with pytest.raises(GanvasError, match="not a run folder"):
        write_report([empty], tmp_path / "x.html")
    assert write_run_report(empty) == empty / "report.html"  # warns, does not raise
    assert not (empty / "report.html").exists()


def test_several_runs_are_compared(trained_run: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    other = tmp_path / "00009-other"
    shutil.copytree(trained_run, other, ignore=shutil.ignore_patterns("checkpoints"))
    config = json.loads((other / "config.json").read_text())
    config["optim"].update(lr_d=1e-4, batch=64)
    (other / "config.json").write_text(json.dumps(config))
    assert differing_settings([load_run(trained_run), load_run(other)]) == ["batch", "lr_d"]
    monkeypatch.chdir(tmp_path)
    assert cli_run(["report", str(trained_run), str(other)]) == 0
    assert "report.html" in capsys.readouterr().out
    document, parts = parse(tmp_path / "report.html")
    header = re.search(r"<thead>(.*?)</thead>", document).group(1)
    assert re.findall(r"<th[^>]*>(.*?)</th>", header)[:3] == ["run", "batch", "lr_d"]
    assert 'id="comparison"' in document and document.count('class="card run"') == 2


def test_report_command_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(report_command, [str(tmp_path / "missing")])
    assert result.exit_code == 2
    err = result.stderr.strip()
    assert err.startswith("ganvas: error: ") and "not a run folder" in err
    assert len(err.splitlines()) == 1


def test_moving_average_by_hand() -> None:
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 3), [1.5, 2, 3, 3.5])
    np.testing.assert_allclose(moving_average([1, float("nan"), 3], 3), [1, 2, 3])


def test_evenly_spaced_keeps_first_and_last() -> None:
    assert evenly_spaced(list(range(30)), 4) == [0, 10, 19, 29]
    assert evenly_spaced([1, 2], 12) == [1, 2]
