"""API key routes (admin scope): create, list and revoke the keys of the caller's tenant."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import OpenAPI, Tag

from api.contract import route
from api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, KeyPath
from api.services import Services, principal
from shared.db import transaction
from shared.keys import create_key, key_view, list_keys, revoke_key

KEYS = Tag(name="keys", description="API keys of your tenant and what each may do")


def register(app: OpenAPI, services: Services) -> None:
    @route(app, "post", "/v1/keys", "admin", ok={201: KeyCreated}, errors=(422,), consumes="application/json",
           tags=[KEYS], summary="Create a key", description="The key itself is in this response only.")
    def create(body: KeyCreate) -> tuple[Response, int]:
        with transaction(services.factory) as session:
            made = create_key(session, principal().tenant_id, tuple(body.scopes),
                              expires_in_days=body.expires_in_days, name=body.name)
            out = {**key_view(made.row), "key": made.key}
        return jsonify(out), 201

    @route(app, "get", "/v1/keys", "admin", ok={200: KeyList}, tags=[KEYS], summary="List keys",
           description="Newest first; revoked and expired keys included (see their dates).")
    def list_() -> Response:
        with services.factory() as session:
            return jsonify({"items": [key_view(k) for k in list_keys(session, principal().tenant_id)]})

    @route(app, "delete", "/v1/keys/<prefix>", "admin", ok={200: KeyOut}, errors=(404,), tags=[KEYS],
           summary="Revoke a key", description="This gateway process refuses it from the next request on, "
                                               "the others within `KEY_CACHE_S` seconds. Revoking twice is "
                                               "harmless.")
    def revoke(path: KeyPath) -> Response:
        with transaction(services.factory) as session:
            view = key_view(revoke_key(session, path.prefix, principal().tenant_id))
        services.keys.forget(path.prefix)  # after the commit: no request can cache it again
        return jsonify(view)
