"""Browser tests: the web pages in Debian's Chromium, driven by Playwright, on the real stack.

The gateway (gunicorn) and a worker pool are real processes on the test stack; Chromium
is the system's (``/usr/bin/chromium``, or ``CHROMIUM``), never one Playwright downloads.
Without Chromium or Playwright every test here is skipped with the reason printed in the
summary (``make test`` installs Chromium with apt-get where it runs as root). Each test
leaves a screenshot in ``build/test-artifacts/pages/``.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator

import pytest
import requests

from tests.paths import ROOT

ARTIFACTS = ROOT / "build" / "test-artifacts" / "pages"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


def chromium() -> str:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or ""


@pytest.fixture(scope="session")
def browser() -> Iterator:
    path = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path = ""
        why = "Playwright for Python is not installed (the test extra installs it)"
    else:
        why = "no Chromium: install Debian's chromium (make test does, as root) or set CHROMIUM=/path/to/chrome"
    if not path:
        warnings.warn(f"BROWSER TESTS SKIPPED: {why}", stacklevel=1)
        pytest.skip(f"BROWSER TESTS SKIPPED: {why}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class Page:
    """A page of the app with the key entered, and every uncaught script error collected."""

    def __init__(self, page, base: str, key: str):
        self.page, self.base, self.key = page, base, key
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.set_default_timeout(30_000)

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)
        if self.page.locator("#api-key").count():
            self.page.fill("#api-key", self.key)
            self.page.click("text=Use this key")

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.base + path, headers={"Authorization": f"Bearer {self.key}"},
                                timeout=30, **kwargs)


@pytest.fixture
def app_page(request, browser, gateway, api_key) -> Iterator[Page]:
    viewport = getattr(request, "param", None) or {"width": 1280, "height": 900}
    phone = viewport["width"] < 600
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone,
                                  device_scale_factor=2 if phone else 1)
    page = Page(context.new_page(), gateway, api_key)
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not page.errors, f"uncaught errors in the page: {page.errors}"
