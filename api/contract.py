"""How a route declares its contract, once: scope, success responses, error statuses.

``operation(...)`` returns the keyword arguments of flask-openapi3's ``app.get/post/...``
and marks the view with the scope it needs, which the gateway's authentication reads.
``finish(spec)`` turns the generated document into the served one: every error response
is ``application/problem+json`` with the headers its status promises.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from flask_openapi3 import OpenAPI
from pydantic import BaseModel

from api.limits import EXEMPT
from api.problems import ERROR_CODES, PROBLEM_JSON, TITLES, field_code

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_HEADER_OF = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    405: {"Allow": {"description": "the methods this URL allows", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}
BEARER = {"bearer": {"type": "http", "scheme": "bearer",
                     "description": "an API key: `Authorization: Bearer sw_<prefix>_<secret>`"}}


def problem_response(status: int, **headers: dict[str, Any]) -> dict[str, Any]:
    """The response object of an error status: problem+json, its status's headers and ``headers``."""
    out: dict[str, Any] = {"description": TITLES.get(status, "error"),
                           "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}
    all_headers = {**_HEADER_OF.get(status, {}), **{k.replace("_", "-"): v for k, v in headers.items()}}
    if all_headers:
        out["headers"] = all_headers
    return out


def route(app: OpenAPI, method: str, rule: str, scope: str | None,
          ok: dict[int, type[BaseModel] | dict | None], errors: tuple[int, ...] = (),
          consumes: str | None = None, **kwargs: Any) -> Callable[[Callable], Callable]:
    """Register a view on ``app`` with its whole contract, declared here once.

    ``consumes``: the one content type the request body may have (else 415, checked
    before validation). ``scope`` None: no key needed. Otherwise 401 and 403 join ``errors``, the view is marked
    with the scope (the gateway's authentication reads it before the view or any request
    validation runs), and the operation's security names the scope (OpenAPI 3.1 allows
    role names for http schemes).
    """
    statuses = set(errors) | ({401, 403} if scope else set()) | ({415} if consumes else set())
    if rule not in EXEMPT:  # api/limits.py: every route but the probes' is rate limited
        statuses.add(429)
    if scope:  # the key is looked up in the database: without one, 503 (database_unavailable)
        statuses.add(503)
    # an entry of ``ok`` wins over the generic problem of the same status (a 409 with Retry-After)
    responses: dict[int, Any] = {**{s: problem_response(s) for s in sorted(statuses)}, **ok}
    description = kwargs.pop("description", "")
    if scope:
        description = (description + f"\n\nNeeds a key with the `{scope}` scope.").strip()

    def register(view: Callable) -> Callable:
        view.required_scope = scope  # type: ignore[attr-defined]
        view.consumes = consumes  # type: ignore[attr-defined]
        add = getattr(app, method)
        return add(rule, responses=responses, security=[{"bearer": [scope]}] if scope else [],
                   description=description or None, **kwargs)(view)

    return register


def finish(spec: dict[str, Any]) -> dict[str, Any]:
    """The served spec: flask-openapi3's document with every error as problem+json.

    flask-openapi3 adds a 422 response in its own error shape to operations that do not
    declare one. Only a body, a query or a header can be invalid (a path that does not
    match is a 404), so operations without those lose it and the others get a problem.
    """
    spec = copy.deepcopy(spec)
    for path_item in spec.get("paths", {}).values():
        for op in path_item.values():
            responses = op.get("responses", {})
            auto = responses.get("422", {}).get("content", {}).get("application/json", {})
            if auto.get("schema", {}).get("type") == "array":
                if op.get("requestBody") or any(q.get("in") != "path" for q in op.get("parameters", [])):
                    responses["422"] = problem_response(422)
                else:
                    del responses["422"]
    components = spec.setdefault("components", {})
    components["securitySchemes"] = {**(components.get("securitySchemes") or {}), **BEARER}
    codes = sorted(set(ERROR_CODES) | validation_codes(spec))
    for name in ("Problem", "FieldError"):
        components["schemas"][name]["properties"]["code"]["enum"] = codes
    return spec


def validation_codes(spec: dict[str, Any]) -> set[str]:
    """invalid_<field> for every field a request can carry, missing_<field> for required ones."""
    schemas = spec.get("components", {}).get("schemas", {})
    codes = set()
    for path_item in spec.get("paths", {}).values():
        for op in path_item.values():
            for param in op.get("parameters", []):
                if param.get("in") != "path":
                    codes.add(field_code(param["name"], missing=False))
                    if param.get("required"):
                        codes.add(field_code(param["name"], missing=True))
            for media in op.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                body = schemas.get(ref.rsplit("/", 1)[-1], {})
                for name in body.get("properties", {}):
                    codes.add(field_code(name, missing=False))
                for name in body.get("required", []):
                    codes.add(field_code(name, missing=True))
    return codes
