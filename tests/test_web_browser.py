"""The web app as a person uses it: Debian's headless Chromium, driven by Selenium, on a real
server. Upload a Greatest Hits clip, synthesize, wait for the soundtrack, move one impact's
frequency slider and see the soundtrack change; refused uploads show their message in the page.

Set PHYSFOLEY_SCREENSHOT=docs/img/web.png to keep the page's screenshot (docs/web.md shows it).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")
selenium = pytest.importorskip("selenium")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from physfoley.web.app import WebApp, WebSettings  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)
#: Chromium with nothing that reaches outside this machine.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
UPLOAD_LIMIT_MB = 2.0
WAIT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def url():
    app = WebApp(WebSettings(max_upload_mb=UPLOAD_LIMIT_MB))
    port = free_port()
    app.launch(port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.blocks.close()
    app.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait(driver, condition, timeout: float = WAIT_S):
    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#video-in input[type=file]"))


def upload(driver, path: Path) -> None:
    driver.find_element(By.CSS_SELECTOR, "#video-in input[type=file]").send_keys(str(path))


def messages(driver) -> str:
    return "\n".join(
        t.text for t in driver.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body]")
    )


def soundtrack_url(driver) -> str | None:
    """Where the page loads the soundtrack from (its content hash changes with the sound)."""
    if not driver.find_elements(By.CSS_SELECTOR, "#soundtrack audio"):
        return None
    links = driver.find_elements(By.CSS_SELECTOR, "#soundtrack a[download]")
    return links[0].get_attribute("href") if links else None


def test_refused_uploads_show_their_message_in_the_page(browser, url, tmp_path):
    for name, content, expected in (
        ("notes.txt", b"not a video", "Invalid file type"),
        ("big.mp4", b"\0" * int((UPLOAD_LIMIT_MB + 1) * 2**20), "exceed the maximum allowed size"),
        (
            "broken.mp4",
            # other bytes than test_web.py's broken.mp4: Gradio caches uploads by content hash
            # in one folder per machine, and an app closing in the other test process deletes
            # what it cached, so a shared file could vanish under this upload
            np.random.default_rng(1).bytes(20_001),
            "broken.mp4 is not a readable video",
        ),
    ):
        open_page(browser, url)  # a fresh page: no message left from the last file
        path = tmp_path / name
        path.write_bytes(content)
        upload(browser, path)
        click_until(browser, "#synthesize", lambda d, expected=expected: expected in messages(d))


def click_until(driver, selector: str, condition, timeout: float = 60, every: float = 3) -> None:
    """Click, and click again every `every` seconds until `condition` holds: a click made while
    the upload is still on its way is answered "Upload a video first", not with the file's own
    message, and how long an upload takes depends on how busy the machine is."""
    deadline = time.monotonic() + timeout
    while True:
        driver.find_element(By.CSS_SELECTOR, selector).click()
        try:
            wait(driver, condition, timeout=min(every, max(deadline - time.monotonic(), 0.1)))
            return
        except TimeoutException:
            if time.monotonic() >= deadline:
                raise


def test_synthesize_then_move_one_impacts_slider(browser, url, gh_demo_dir):
    open_page(browser, url)
    upload(browser, gh_demo_dir / "physics_driven_diffusion_model_sample_10.mp4")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#video-in video"))
    browser.find_element(By.CSS_SELECTOR, "#synthesize").click()
    first = wait(browser, soundtrack_url)
    wait(browser, lambda d: "3 impacts" in d.find_element(By.CSS_SELECTOR, "#status").text)
    assert "picture" in browser.find_element(By.CSS_SELECTOR, "#impacts").text

    # move impact 1's frequency slider: only that impact is made again, the soundtrack changes
    slider = browser.find_element(By.CSS_SELECTOR, "#freq input[type=range]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    ActionChains(browser).move_to_element_with_offset(
        slider, int(slider.size["width"] * 0.3), 0
    ).click().perform()
    changed = wait(browser, lambda d: (u := soundtrack_url(d)) and u != first and u)
    assert changed != first
    value = float(
        browser.find_element(By.CSS_SELECTOR, "#freq input[type=number]").get_attribute("value")
    )
    assert value > 1.2
    wait(browser, lambda d: f"f x{value:.2f}" in d.find_element(By.CSS_SELECTOR, "#impacts").text)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".gradio-container img")) >= 2)

    target = os.environ.get("PHYSFOLEY_SCREENSHOT")
    if target:
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        Path(target).write_bytes(base64.b64decode(shot["data"]))


def test_sound_tab_analyses_a_recording_and_edits_it(browser, url, hammer_dir):
    open_page(browser, url)
    browser.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Sound')]").click()
    upload_box = browser.find_element(By.CSS_SELECTOR, "#sound-in input[type=file]")
    upload_box.send_keys(str(hammer_dir / "ceramic.wav"))
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#analyze").is_enabled())
    browser.find_element(By.CSS_SELECTOR, "#analyze").click()

    def edited_url(d):
        links = d.find_elements(By.CSS_SELECTOR, "#edited a[download]")
        return links[0].get_attribute("href") if links else None

    first = wait(browser, edited_url)
    assert browser.find_elements(By.CSS_SELECTOR, "#modes-plot img")
    slider = browser.find_element(By.CSS_SELECTOR, "#s-decay input[type=range]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    ActionChains(browser).move_to_element_with_offset(
        slider, -int(slider.size["width"] * 0.45), 0
    ).click().perform()
    wait(browser, lambda d: (u := edited_url(d)) and u != first)


@pytest.fixture(scope="module")
def diff_foley_url(tmp_path_factory):
    """An app started with `--model DIR` of a tiny diff-foley model (3 DDIM steps)."""
    from _soundtrack_data import tiny_model_dir

    model = tiny_model_dir(tmp_path_factory.mktemp("m") / "tinydf")
    app = WebApp(WebSettings(model=str(model)))
    port = free_port()
    app.launch(port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.blocks.close()
    app.close()


def test_a_diff_foley_model_gives_the_whole_soundtrack_and_disables_the_sliders(
    browser, diff_foley_url, tmp_path
):
    from _soundtrack_data import make_synthhits

    video = next(make_synthhits(tmp_path, videos=1, seconds=2.0).glob("*_denoised.mp4"))
    open_page(browser, diff_foley_url)
    upload(browser, video)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#video-in video"))
    browser.find_element(By.CSS_SELECTOR, "#synthesize").click()
    wait(browser, soundtrack_url)
    wait(browser, lambda d: "Whole soundtrack" in d.find_element(By.CSS_SELECTOR, "#status").text)
    note = browser.find_element(By.CSS_SELECTOR, "#family-note").text
    assert "apply to per-impact models only" in note and "tinydf (diff-foley)" in note
    assert "confidence" in browser.find_element(By.CSS_SELECTOR, "#impacts").text
    for slider in ("freq", "decay", "gain", "speed", "mass"):
        wait(
            browser,
            lambda d, s=slider: (
                not d.find_element(By.CSS_SELECTOR, f"#{s} input[type=range]").is_enabled()
            ),
            timeout=30,
        )
