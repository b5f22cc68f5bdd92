"""Headless Chromium for the driver's page: Debian's `chromium` and `chromium-driver` driven by
Selenium (never a tool's own browser download: this machine has no way to fetch one), axe-core
from npm for the accessibility check, and screenshots of every step as test artifacts.

    make test            installs chromium + chromium-driver with apt when they are missing and
                         it runs as root (CI), and axe-core with `npm ci --prefix tests/browser`
    BROWSER_TESTS=required   (set by .ci/run) a missing browser fails the tests instead of
                         skipping them

Screenshots go to `artifacts/browser/<test>/` at the top of the clone (git-ignored), or under
$BROWSER_ARTIFACTS.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS") or ROOT / "artifacts" / "browser")
# A phone: an iPhone 12-14's CSS viewport.
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
# What the closed network here needs (no background fetches to Google, no QUIC), and a fresh
# profile per browser.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--lang=en-US", "--window-size=390,844"]
HOW_TO = ("browser tests need Debian's chromium and chromium-driver (/usr/bin/chromium, "
          "/usr/bin/chromedriver) and axe-core: `sudo apt-get install chromium chromium-driver` "
          "and `npm ci --prefix tests/browser` (`make test` does both when run as root)")
WAIT_S = 20.0  # the longest any step may take: a bound, not a sleep


def _missing() -> list[str]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not AXE.exists():
        missing.append(str(AXE.relative_to(ROOT)))
    return missing


def require_browser() -> None:
    missing = _missing()
    if not missing:
        return
    message = f"{HOW_TO}; missing: {', '.join(missing)}"
    if os.environ.get("BROWSER_TESTS") == "required":
        pytest.fail(f"BROWSER_TESTS=required but {message}", pytrace=False)
    pytest.skip(message)


class Page:
    """One Chromium (WebDriver session) on a phone-sized viewport, with the helpers the tests use."""

    def __init__(self, driver, artifacts: Path):
        self.driver = driver
        self.artifacts = artifacts
        self.step = 0

    # -- navigation and reading
    def open(self, url: str) -> None:
        self.driver.get(url)

    def text(self, element_id: str) -> str:
        return self.driver.find_element("id", element_id).text

    def visible(self, element_id: str) -> bool:
        els = self.driver.find_elements("id", element_id)
        return bool(els) and els[0].is_displayed()

    def buttons(self, css: str = "button.start") -> list:
        return [b for b in self.driver.find_elements("css selector", css) if b.is_displayed()]

    def wait(self, check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        """Poll the page until `check()` is truthy; fail naming `what` and what the page says."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = check()
            except Exception:  # an element replaced between find and read: look again
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:g} s; the page says "
                            f"status={self.text('status')!r} error={self.text('error')!r}")
            time.sleep(0.1)

    def wait_text(self, element_id: str, pattern: str, timeout: float = WAIT_S) -> str:
        rx = re.compile(pattern)
        return self.wait(lambda: rx.search(self.text(element_id)) and self.text(element_id),
                         f"#{element_id} matching {pattern!r}", timeout)

    def click(self, css: str) -> None:
        self.driver.find_element("css selector", css).click()

    # -- evidence
    def screenshot(self, name: str) -> Path:
        self.step += 1
        self.artifacts.mkdir(parents=True, exist_ok=True)
        path = self.artifacts / f"{self.step:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def axe(self) -> list[dict]:
        """axe-core's serious and critical violations of the page as it is now."""
        if not self.driver.execute_script("return !!window.axe"):
            self.driver.execute_script(AXE.read_text(encoding="utf-8"))
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' '))}))))"
            ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));")
        return [v for v in result if v["impact"] in ("serious", "critical")]

    def session_token(self, code: str) -> str | None:
        return self.driver.execute_script(
            "return sessionStorage.getItem(arguments[0])", f"scan-to-pay:{code}")


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per module (starting one costs a second or two)."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(WAIT_S)
        driver.set_script_timeout(WAIT_S)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium, request):
    """The module's browser, with this test's artifacts folder (emptied first)."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    chromium.delete_all_cookies()
    return Page(chromium, folder)
