"""The studio below its page: which files it will read, who may connect, what it renders, and
the server's own refusals (path traversal, logins, upload limits) over HTTP."""

from __future__ import annotations

import json
import shlex
import socket
import struct
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganvas.errors import GanvasError
from ganvas.runs.records import append_jsonl
from ganvas.studio.access import TOKEN_USER, decide_access, is_loopback
from ganvas.studio.catalog import Catalog
from ganvas.studio.folders import RunFolders, inside
from ganvas.studio.warm import Settings, WarmGenerators, png_bytes
from ganvas.studio.watch import Watcher
from tests.helpers import TINY, cli, train_once


@pytest.fixture(scope="module")
def studio_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one tiny finished run (its own copy: these tests append to it)."""
    run = train_once(tmp_path_factory, "studio", kimg=0.032, **TINY)
    return run.parent


def run_folder(studio_runs: Path) -> Path:
    return next(p for p in studio_runs.iterdir() if (p / "config.json").is_file())


# -- files: nothing outside the run folders -------------------------------------------------
def test_inside_refuses_paths_that_leave_the_folder(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "00000-a"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (run / "link-out").symlink_to(secret)
    (run / "dir-out").symlink_to(tmp_path)
    (run / "link-in").symlink_to(run / "config.json")
    assert inside(run, "config.json") == (run / "config.json").resolve()
    assert inside(run, "link-in") == (run / "config.json").resolve()
    assert inside(run, "checkpoints/../config.json".replace("../", "")).name == "config.json"
    for bad in ("../secret.txt", "checkpoints/../../secret.txt", str(secret), "/etc/passwd",
                "link-out", "dir-out/secret.txt", "..\\secret.txt", "", "a\x00b"):
        with pytest.raises(GanvasError):
            inside(run, bad)


def test_run_folders_list_runs_and_refuse_everything_else(tmp_path: Path,
                                                          studio_runs: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "config.json").write_text("{}")  # a run folder outside the studio's folders
    root = tmp_path / "runs"
    root.mkdir()
    (root / "00001-linked").symlink_to(outside)
    real = run_folder(studio_runs)
    folders = RunFolders([studio_runs, root, real])
    ids = [ref.id for ref in folders.runs()]
    assert f"{studio_runs.name}/{real.name}" in ids and real.name in ids
    assert not any("linked" in i for i in ids)  # the symlink out is not one of its runs
    with pytest.raises(GanvasError, match="not one of the studio's runs"):
        folders.run("runs/00001-linked")
    with pytest.raises(GanvasError):
        folders.run(f"{studio_runs.name}/../{real.name}")
    assert folders.file(ids[0], "config.json").is_file()
    with pytest.raises(GanvasError):
        folders.file(ids[0], "../../../../etc/passwd")
    with pytest.raises(GanvasError, match="no such folder of runs"):
        RunFolders([tmp_path / "missing"])


# -- access: 127.0.0.1 by default, a login anywhere else ---------------------------------------
def test_only_loopback_hosts_go_without_a_login() -> None:
    assert decide_access().host == "127.0.0.1" and decide_access().login is None
    assert decide_access("localhost").login is None and is_loopback("::1")
    opened = decide_access("0.0.0.0")
    assert opened.generated and opened.login[0] == TOKEN_USER and len(opened.login[1]) >= 20
    assert opened.login[1] in opened.notice()
    assert decide_access("0.0.0.0").login != opened.login  # a fresh token every time
    given = decide_access("192.168.1.5", auth="ada:lovelace")
    assert given.login == ("ada", "lovelace") and given.notice() is None
    for bad in ("ada", ":x", "ada:"):
        with pytest.raises(GanvasError, match="--auth"):
            decide_access("0.0.0.0", auth=bad)


# -- rendering: a seed's pixels are generate's ------------------------------------------------
def test_rendered_seed_matches_the_command_it_shows(studio_runs: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    run = run_folder(studio_runs)
    warm = WarmGenerators()
    settings = Settings(run=str(run), seed=7, truncation=0.8)
    image = warm.seeds(settings.run, [5, 6, 7, 8], settings.truncation)[2]
    assert warm.generator(run) is warm.generator(run)  # kept loaded between requests
    words = shlex.split(settings.command())
    assert words[:2] == ["ganvas", "generate"]
    out = tmp_path / "out"
    code, _, err = cli(capsys, *words[1:-2], "--out", str(out))
    assert code == 0, err
    written = np.asarray(Image.open(out / "seed0007.png"))
    assert np.array_equal(written.reshape(image.shape), image)
    chunk = Image.open(__import__("io").BytesIO(png_bytes(image, settings)))
    assert json.loads(chunk.text["ganvas"])["seed"] == 7
    assert chunk.text["ganvas-command"] == settings.command()
    assert np.array_equal(np.asarray(chunk).reshape(image.shape), image)


def test_catalog_and_watcher_follow_the_files(studio_runs: Path) -> None:
    run = run_folder(studio_runs)
    folders = RunFolders([studio_runs])
    ref = folders.runs()[0]
    catalog, watcher = Catalog(), Watcher()
    row = catalog.row(ref)
    assert row.state == "finished" and row.model == "dcgan" and row.resolution == 32
    before = watcher.picture(run)
    assert watcher.picture(run) is before  # unchanged folder: nothing re-read
    assert before.charts and '"model": "dcgan"' in before.options
    assert before.snapshots == ["latest", "0.032 kimg"]
    append_jsonl(run / "stats.jsonl", {"step": 999, "kimg": 12.5, "loss_D": 1.0,
                                       "loss_G": 1.0})
    after = watcher.picture(run)
    assert after is not before and after.run.last("kimg") == 12.5
    assert catalog.row(ref).kimg == 12.5


# -- the server: HTTP refusals ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, data: bytes | None = None,
          headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def served(studio_runs: Path, tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("gradio")
    from ganvas.studio.app import serve
    run = run_folder(studio_runs)
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("top secret")
    (run / "secret-link.txt").symlink_to(outside)
    port = free_port()
    blocks = serve([studio_runs], port=port, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}", run, outside
    blocks.close()


def test_the_server_serves_no_file_outside_its_runs(served) -> None:
    url, run, outside = served
    assert fetch(url + "/")[0] == 200
    targets = [str(outside), "/etc/passwd", f"{run}/secret-link.txt", f"{run}/config.json",
               f"{run}/../../../../etc/passwd", "../../../../etc/passwd",
               "%2e%2e/%2e%2e/%2e%2e/etc/passwd"]
    for prefix in ("/gradio_api/file=", "/file=", "/gradio_api/file/", "/static/",
                   "/assets/"):
        for target in targets:
            status, body = fetch(url + prefix + target)
            assert b"top secret" not in body and b"root:" not in body, (prefix, target)
            assert b'"model"' not in body, (prefix, target)  # config.json is not served raw
            assert status != 200 or b"<html" in body.lower()[:200], (prefix, target, status)


def listening_addresses(port: int) -> list[str]:
    """The local addresses of the sockets listening on ``port`` (Linux's /proc/net/tcp*)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def test_the_server_binds_to_loopback_only(served) -> None:
    url, _, _ = served
    port = int(url.rsplit(":", 1)[1])
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp to read the listening address from")
    # 0100007F is 127.0.0.1 (little-endian hex); 00000000 would be every interface.
    assert listening_addresses(port) == ["0100007F"]


def test_uploads_are_size_limited(served) -> None:
    url, _, _ = served
    boundary = "ganvasboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + \
        b"\0" * (21 * 1024 * 1024) + f"\r\n--{boundary}--\r\n".encode()
    status, _ = fetch(url + "/gradio_api/upload", body,
                      {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 413


def test_a_remote_host_needs_the_login(studio_runs: Path) -> None:
    pytest.importorskip("gradio")
    from ganvas.studio.app import serve
    port = free_port()
    blocks = serve([studio_runs], host="0.0.0.0", port=port, auth="ada:lovelace",
                   block=False, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}"
        assert fetch(url + "/config")[0] == 401
        assert fetch(url + "/login", b"username=ada&password=wrong",
                     {"Content-Type": "application/x-www-form-urlencoded"})[0] == 400
        status, _ = fetch(url + "/login", b"username=ada&password=lovelace",
                          {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200
    finally:
        blocks.close()


# -- uploads are decoded with prepare's guards ------------------------------------------------
def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_photos_are_decoded_with_prepares_guards(studio_runs: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(30_000, 30_000))
    good = tmp_path / "good.jpg"
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:200])
    warm = WarmGenerators()
    run = run_folder(studio_runs)
    with pytest.raises(GanvasError, match="bomb.png: decompression bomb"):
        warm.project(str(run), bomb, steps=1)
    with pytest.raises(GanvasError, match="cut.jpg: truncated"):
        warm.project(str(run), cut, steps=1)
    steps = []
    image, _, _ = warm.project(str(run), good, steps=3, on_step=steps.append)
    assert steps == [1, 2, 3] and image.shape[-1] == 1


def test_without_gradio_one_line_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture,
                                                    studio_runs: Path) -> None:
    import sys
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if it were not installed
    code, _, err = cli(capsys, "studio", str(studio_runs))
    assert code == 2
    assert err.strip() == "ganvas: error: ganvas studio needs Gradio, an optional extra: " \
        "pip install 'ganvas[studio]' (or pip install gradio)"


def test_studio_names_snapshots_as_generate_does(studio_runs: Path) -> None:
    from ganvas.studio.studio import Studio
    studio = Studio([studio_runs])
    run_id = studio.run_ids()[0]
    run = run_folder(studio_runs)
    assert Path(studio.spec(run_id, "latest")).resolve() == run.resolve()
    at = studio.spec(run_id, "0.032 kimg")
    assert at.endswith("@0.032") and Path(at[:-6]).resolve() == run.resolve()
    image = studio.generators.seeds(at, [1])
    assert np.array_equal(image, studio.generators.seeds(studio.spec(run_id), [1]))
    for bad in ("../../etc/passwd", "x kimg", "newest"):
        with pytest.raises(GanvasError):
            studio.spec(run_id, bad)
    headers, rows, charts = studio.comparison([run_id, run_id])
    assert headers[0] == "run" and len(rows) == 2 and charts
    grids = studio.grids_at([run_id], 0)
    assert len(grids) == 1 and grids[0][1].endswith("0 kimg")


def test_walks_and_style_mixing_match_the_commands(tmp_path_factory: pytest.TempPathFactory
                                                   ) -> None:
    from ganvas.explore.stylemix import style_mixing_grid
    from ganvas.render import load_generator
    from tests.helpers import SG2
    run = train_once(tmp_path_factory, "studio-sg2", kimg=0.016, **SG2)
    warm = WarmGenerators(batch=64)  # the commands' batch: the same kernels, the same pixels
    ends = warm.between(run, [3, 9], [0.0, 1.0], truncation=0.7)
    assert np.array_equal(ends, warm.seeds(run, [3, 9], truncation=0.7))
    middle = warm.between(run, [3, 9], [0.5])[0]
    assert not np.array_equal(middle, ends[0]) and not np.array_equal(middle, ends[1])
    row, column, mixed = warm.mix(run, 3, 9, (0, 1))
    grid = style_mixing_grid(load_generator(run), [3], [9], layers="0-1")
    side = row.shape[0]
    cell = grid[2 + side + 2: 2 + 2 * side + 2, 2 + side + 2: 2 + 2 * side + 2]
    assert np.array_equal(cell.reshape(mixed.shape), mixed)
    assert not np.array_equal(mixed, row) and not np.array_equal(mixed, column)
    with pytest.raises(GanvasError, match="style layers"):
        warm.mix(run, 3, 9, (2, 99))
    video = warm.walk_video(run, [3, 9], frames=4)
    assert video.shape[0] == 5  # 4 frames per pair, and the last key


def test_serving_connects_to_nothing_outside(studio_runs: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the studio and loading its page opens no connection beyond this machine
    (no analytics, no update check, no fonts): every connect() is recorded."""
    pytest.importorskip("gradio")
    from ganvas.studio.app import serve
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")  # the studio must turn it off
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and not host.startswith(("127.", "::1", "localhost")) \
                and self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError("no network in this test")
        return real_connect(self, address)

    real_lookup = socket.getaddrinfo

    def lookup(host: object, *args: object, **kwargs: object) -> object:
        if host not in (None, "127.0.0.1", "localhost", "::1", "0.0.0.0"):
            attempts.append(host)
            raise socket.gaierror("no network in this test")
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    port = free_port()
    blocks = serve([studio_runs], port=port, block=False, quiet=True)
    try:
        for path in ("/", "/config", "/theme.css"):
            fetch(f"http://127.0.0.1:{port}{path}")
        time.sleep(1.0)  # background threads (an update check) would have started by now
    finally:
        blocks.close()
    assert attempts == []


def test_the_page_lists_a_run_that_starts_while_it_is_open(tmp_path: Path,
                                                           studio_runs: Path) -> None:
    pytest.importorskip("gradio")
    import shutil

    from ganvas.studio.page import Page
    from ganvas.studio.studio import Studio
    root = tmp_path / "runs"
    shutil.copytree(run_folder(studio_runs), root / "00000-first")
    page = Page(Studio([root]))
    page.build()
    marks, *first = page.refresh("runs/00000-first", None)
    assert first[1][0][0] == "runs/00000-first"  # the first look sends the table
    again = page.refresh("runs/00000-first", marks)
    skip = {"__type__": "update"}  # gr.skip(): nothing sent for that output
    assert again[0] == marks and all(output == skip for output in again[1:])
    (root / "00001-second").mkdir()
    (root / "00001-second" / "config.json").write_text('{"model": "dcgan"}')
    _, gallery, table, run_choice, compare_runs, *_ = page.refresh("runs/00000-first", marks)
    assert [row[0] for row in table] == ["runs/00000-first", "runs/00001-second"]
    assert len(gallery) == 2
    assert run_choice["choices"] == compare_runs["choices"] == ["runs/00000-first",
                                                                 "runs/00001-second"]


def test_a_conditional_run_renders_the_picked_class(tmp_path_factory: pytest.TempPathFactory,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    run = train_once(tmp_path_factory, "studio-cond", kimg=0.032, cond=True, **TINY)
    warm = WarmGenerators()
    settings = Settings(run=str(run), seed=4, class_name="3")
    image = warm.seeds(settings.run, [4], class_name="3")[0]
    assert not np.array_equal(image, warm.seeds(settings.run, [4], class_name="8")[0])
    words = shlex.split(settings.command())
    assert words[words.index("--class") + 1] == "3"
    code, _, err = cli(capsys, *words[1:-2], "--out", str(tmp_path))
    assert code == 0, err
    written = np.asarray(Image.open(tmp_path / "seed0004-3.png"))
    assert np.array_equal(written.reshape(image.shape), image)
    with pytest.raises(GanvasError, match="class 'cat'"):
        warm.seeds(settings.run, [4], class_name="cat")
    with pytest.raises(GanvasError):
        warm.seeds(settings.run, [4])  # a conditional run needs a class
