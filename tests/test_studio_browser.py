"""The studio in a real browser: headless Chromium, driven by Selenium, on a tiny trained run.

Skipped, with the reason, when Chromium, its driver, Selenium or Gradio is missing. CI sets
``GANVAS_REQUIRE_BROWSER=1`` (``.ci/run`` installs Debian's ``chromium`` and
``chromium-driver``), and then a missing piece fails the test instead of skipping it.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from ganvas.runs.records import append_jsonl
from tests.helpers import TINY, cli, train_once
from tests.test_studio import free_port, run_folder

DRIVER = shutil.which("chromedriver") or next(
    (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).exists()),
    None)
BROWSER = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                if (path := shutil.which(name))), None)


def missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    for module in ("selenium", "gradio"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[dev]')"
    if BROWSER is None or DRIVER is None:
        return "chromium or chromium-driver is not installed (apt-get install chromium " \
               "chromium-driver)"
    return None


REASON = missing()
if REASON and os.environ.get("GANVAS_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"GANVAS_REQUIRE_BROWSER=1 but {REASON}")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory):
    """The studio served on a tiny trained run, and a headless Chromium on its page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from ganvas.studio.app import serve
    runs = train_once(tmp_path_factory, "studio-browser", kimg=0.032, **TINY).parent
    port = free_port()
    blocks = serve([runs], port=port, block=False, quiet=True)
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1800", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update"):
        options.add_argument(argument)
    options.binary_location = BROWSER
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.get(f"http://127.0.0.1:{port}/")
    yield driver, runs, f"http://127.0.0.1:{port}"
    driver.quit()
    blocks.close()


def wait_for(condition: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - the page is still being built
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds:g} s waiting for the page")


def open_tab(driver, name: str) -> None:
    from selenium.webdriver.common.by import By
    wait_for(lambda: [b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]")
                      if b.text.strip() == name])[0].click()


def grid_sources(driver) -> list[str]:
    from selenium.webdriver.common.by import By
    return [img.get_attribute("src") for img in
            driver.find_elements(By.CSS_SELECTOR, "#seed-grid img")]


def picture(url: str) -> Image.Image:
    with urllib.request.urlopen(url, timeout=30) as response:
        return Image.open(io.BytesIO(response.read()))


def test_truncation_slider_changes_the_grid(studio) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    driver, _, _ = studio
    open_tab(driver, "Explore")
    before = wait_for(lambda: (s := grid_sources(driver)) and len(s) == 16 and s)
    first = np.asarray(picture(before[0]))
    box = driver.find_element(By.CSS_SELECTOR, "#truncation input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("0.5", Keys.TAB)

    def first_image_changed() -> bool:
        sources = grid_sources(driver)
        if len(sources) != 16 or sources == before:
            return False
        changed = np.asarray(picture(sources[0]))
        return changed.shape == first.shape and not np.array_equal(changed, first)
    wait_for(first_image_changed)


def test_a_pinned_seed_is_reproduced_by_its_command(studio, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    from selenium.webdriver.common.by import By
    driver, _, _ = studio
    open_tab(driver, "Explore")
    wait_for(lambda: len(grid_sources(driver)) == 16)
    driver.find_elements(By.CSS_SELECTOR, "#seed-grid .thumbnail-item")[3].click()
    command = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#command textarea")
                       .get_attribute("value"))
    words = shlex.split(command)
    assert words[:2] == ["ganvas", "generate"] and words[words.index("--seeds") + 1] == "3"
    link = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#download-png a[href]")
                    .get_attribute("href"))
    shown = picture(link)
    assert json.loads(shown.text["ganvas"])["seed"] == 3
    assert shown.text["ganvas-command"] == command
    out = words.index("--out")
    code, _, err = cli(capsys, *words[1:out], "--out", str(tmp_path))
    assert code == 0, err
    written = Image.open(tmp_path / "seed0003.png")
    assert np.array_equal(np.asarray(written), np.asarray(shown))


def test_the_run_view_follows_stats_jsonl(studio) -> None:
    from selenium.webdriver.common.by import By
    driver, runs, _ = studio
    open_tab(driver, "Run")
    summary = lambda: driver.find_element(By.CSS_SELECTOR, "#run-summary").text  # noqa: E731
    wait_for(lambda: "kimg" in summary())
    assert "77.7 kimg" not in summary()
    append_jsonl(run_folder(runs) / "stats.jsonl",
                 {"step": 5000, "kimg": 77.7, "loss_D": 0.5, "loss_G": 2.0})
    wait_for(lambda: "77.7 kimg" in summary(), seconds=30)


def test_the_page_draws_and_fetches_nothing_from_outside(studio, tmp_path: Path) -> None:
    driver, _, url = studio
    open_tab(driver, "Explore")
    wait_for(lambda: len(grid_sources(driver)) == 16)
    shot = tmp_path / "explore.png"
    driver.save_screenshot(str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500
    requested = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert any(u.startswith(url) for u in requested)
    outside = [u for u in requested if not u.startswith((url, "data:", "blob:"))]
    assert not outside, outside
