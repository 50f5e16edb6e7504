"""The web pages: inspector, store dashboard, phone audit page, review page.

Static HTML, CSS and JavaScript modules in ``api/pages/`` (no build step, no CDN), served
by the gateway under ``/app/``. The pages hold no secrets and reach no private endpoint:
every figure they show comes from the public API, called from the browser with the key
the person typed (kept in the tab's ``sessionStorage``). A strict Content-Security-Policy
allows scripts, styles and connections to this origin only.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, abort, redirect, send_from_directory

PAGES_DIR = Path(__file__).parent / "pages"
PAGES = ("inspector", "store", "audit", "review")
CSP = ("default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; script-src 'self'; "
       "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _secure(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def register(app: Flask) -> None:
    pages = Blueprint("pages", __name__, static_folder=str(PAGES_DIR), static_url_path="/app/assets")

    @pages.get("/app")
    def root() -> Response:
        return redirect("/app/", code=308)  # type: ignore[return-value]

    @pages.get("/app/")
    @pages.get("/app/<page>")
    def page(page: str = "index") -> Response:
        if page != "index" and page not in PAGES:
            abort(404)
        resp = send_from_directory(PAGES_DIR, f"{page}.html", max_age=0)
        return _secure(resp)

    @pages.after_request
    def _assets(resp: Response) -> Response:
        return _secure(resp)

    app.register_blueprint(pages)
