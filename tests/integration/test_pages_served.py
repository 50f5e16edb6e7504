"""The web pages as the gateway serves them: no key needed for the files, nothing from elsewhere."""

from __future__ import annotations

import re

import pytest

from api.web import PAGES, PAGES_DIR


@pytest.mark.parametrize("page", ["", *PAGES])
def test_each_page_is_served_with_a_strict_policy_and_local_assets(client, page):
    r = client.get(f"/app/{page}")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    policy = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    html = r.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for url in assets:
        assert url.startswith(("/app/", "/docs", "data:")), url
        if url.startswith("/app/assets/"):
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["Content-Security-Policy"] == policy


def test_no_page_reaches_past_the_public_api():
    """Scripts call only /v1/ routes (the public API) and load only their own modules."""
    for script in PAGES_DIR.glob("*.js"):
        text = script.read_text()
        assert not re.search(r"https?://", text), script.name
        for path in re.findall(r'[`"](/[a-z][^`"$?]*)', text):
            assert path.startswith(("/v1/", "/app/")), (script.name, path)
        for module in re.findall(r'from "([^"]+)"', text):
            assert (PAGES_DIR / module).exists(), (script.name, module)


def test_the_pages_have_no_inline_code():
    """The policy forbids inline scripts and styles, so the pages must have none."""
    for page in PAGES_DIR.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page.name
        assert not re.search(r" style=|<style", html), page.name
        assert not re.search(r"\son[a-z]+=", html), page.name


def test_an_unknown_page_is_a_404(client):
    assert client.get("/app/nope").status_code == 404
