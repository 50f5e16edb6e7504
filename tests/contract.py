"""Every response a test receives is checked against the served OpenAPI spec.

``ContractClient`` is the Flask test client the fixtures hand out: after each call it
validates the status, the body and the declared headers with openapi-core, and checks the
other direction too: a header the gateway promises (Location, Retry-After,
WWW-Authenticate, Allow) may only appear where the spec declares it, and an error is
``application/problem+json`` wherever the spec says so. So the spec cannot drift from the behaviour.
"""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.test import TestResponse


class _Called(WerkzeugOpenAPIRequest):
    """The request as openapi-core needs it to find the operation; its body was read already."""

    @property
    def body(self) -> bytes | None:
        return None


PROMISED_HEADERS = ("Location", "Retry-After", "WWW-Authenticate", "Allow")
CHECKED: list[tuple[str, str, int]] = []  # (method, path template, status) of every validated call


def _regex(template: str) -> str:
    return "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"


class ContractClient(FlaskClient):
    spec: dict[str, Any]
    core: OpenAPI

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:  # type: ignore[override]
        response = super().open(*args, **kwargs)
        self.check(response)
        return response

    def check(self, response: TestResponse) -> None:
        request = response.request
        path = request.path
        template = next((t for t in self.spec["paths"] if re.fullmatch(_regex(t), path)), None)
        outside = path.startswith(("/docs", "/app"))  # the docs page and the web pages: HTML, not the API
        if template is None or outside:
            assert response.status_code in (404, 405) or outside, f"{path} is not in the spec"
            if response.status_code >= 400:
                assert response.mimetype == "application/problem+json", response.data[:200]
            return
        method = request.method.lower()
        operation = self.spec["paths"][template].get(method)
        if operation is None:
            assert response.status_code == 405
            assert "Allow" in response.headers
            assert response.mimetype == "application/problem+json"
            return
        status = str(response.status_code)
        declared = operation["responses"].get(status)
        assert declared is not None, f"{method.upper()} {template} answered {status}, which the spec does not declare"
        if "application/problem+json" in declared.get("content", {}):
            assert response.mimetype == "application/problem+json", f"{status} is not problem+json"
        for header in PROMISED_HEADERS:
            if header in response.headers:
                assert header in declared.get("headers", {}), \
                    f"{method.upper()} {template} {status} sends {header}, which the spec does not declare"
        self.core.validate_response(_Called(request), WerkzeugOpenAPIResponse(response))
        CHECKED.append((method, template, response.status_code))
