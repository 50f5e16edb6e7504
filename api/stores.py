"""Store and section routes: stores (admin creates, read lists), sections with stock levels."""

from __future__ import annotations

import logging

from flask import Response, jsonify
from flask_openapi3 import OpenAPI, Tag

from api.contract import route
from api.schemas import (
    ActivityList,
    ActivityQuery,
    Planogram,
    SectionCreate,
    SectionLevels,
    SectionList,
    SectionOut,
    SectionPath,
    StockHistory,
    StockQuery,
    StoreCreate,
    StoreList,
    StoreOut,
    StorePath,
)
from api.services import Services, principal
from shared import stores
from shared.celery_app import enqueue_deliveries
from shared.db import transaction
from shared.errors import Invalid

log = logging.getLogger("shelfwatch.api")
STORES = Tag(name="stores", description="stores, their sections and stock levels")


def register(app: OpenAPI, services: Services) -> None:
    @route(app, "post", "/v1/stores", "admin", ok={201: StoreOut}, errors=(409, 422), consumes="application/json",
           tags=[STORES], summary="Create a store")
    def create_store(body: StoreCreate) -> tuple[Response, int]:
        with transaction(services.factory) as session:
            return jsonify(stores.store_view(stores.create_store(session, principal().tenant_id, body.id,
                                                                 body.name))), 201

    @route(app, "get", "/v1/stores", "read", ok={200: StoreList}, tags=[STORES], summary="List stores")
    def list_stores() -> Response:
        with services.factory() as session:
            found = stores.list_stores(session, principal().tenant_id)
            return jsonify({"items": [stores.store_view(s) for s in found]})

    @route(app, "post", "/v1/stores/<store_id>/sections", "admin", ok={201: SectionOut}, errors=(404, 409, 422),
           consumes="application/json", tags=[STORES], summary="Add a section (an aisle) with its stock levels")
    def add_section(path: StorePath, body: SectionCreate) -> tuple[Response, int]:
        with transaction(services.factory) as session:
            rows = [r.model_dump() if r else None for r in body.rows] if body.rows is not None else None
            section = stores.add_section(session, principal().tenant_id, path.store_id, body.aisle, body.name,
                                         body.critical, body.target, rows)
            return jsonify(stores.section_view(section)), 201

    @route(app, "get", "/v1/stores/<store_id>/sections", "read", ok={200: SectionList}, errors=(404,), tags=[STORES],
           summary="A store's sections with their stock status")
    def list_sections(path: StorePath) -> Response:
        with services.factory() as session:
            return jsonify({"items": [stores.section_view(s) for s in
                                      stores.list_sections(session, principal().tenant_id, path.store_id)]})

    @route(app, "patch", "/v1/stores/<store_id>/sections/<section_id>", "admin", ok={200: SectionOut},
           errors=(404, 422), consumes="application/json", tags=[STORES], summary="Change a section's stock levels",
           description="The section's status is judged again at once against its newest finished audit "
                       "(an alert raised or cleared, `stock.low` sent, as after an audit).")
    def set_levels(path: SectionPath, body: SectionLevels) -> Response:
        with transaction(services.factory) as session:
            section = stores.get_section(session, principal().tenant_id, path.store_id, path.section_id)
            if "rows" in body.model_fields_set:  # given: replaces every row's levels
                rows = [r.model_dump() if r else None for r in body.rows or []]
                deliveries = stores.change_levels(session, section, body.critical, body.target, rows)
            else:
                deliveries = stores.change_levels(session, section, body.critical, body.target)
            view = stores.section_view(section)
        try:  # after the commit; a delivery the broker missed is sent by beat's dispatcher
            enqueue_deliveries(services.celery, [str(d) for d in deliveries])
        except Exception:  # noqa: BLE001 - the change is made; the webhook is late, not lost
            log.warning("stock.low deliveries %s not enqueued; the dispatcher will send them", deliveries)
        return jsonify(view)

    @route(app, "put", "/v1/stores/<store_id>/sections/<section_id>/planogram", "admin", ok={200: SectionOut},
           errors=(404, 422), consumes="application/json", tags=[STORES], summary="Set a section's planogram",
           description="The expected layout; every finished audit of the section then gets a compliance score "
                       "and its deviations. A row may name products, each with a reference: a job of yours and "
                       "the box of one facing on its photo; audits' product groups are matched against it by "
                       "appearance (`missing_facings`, `extra_facings` and `wrong_row` per product).")
    def put_planogram(path: SectionPath, body: Planogram) -> Response:
        with transaction(services.factory) as session:
            section = stores.get_section(session, principal().tenant_id, path.store_id, path.section_id)
            layout = body.model_dump(exclude_none=True)
            return jsonify(stores.section_view(stores.set_planogram(session, section, layout, services.store.get)))

    @route(app, "get", "/v1/stores/<store_id>/stock", "read", ok={200: StockHistory}, errors=(404, 422),
           tags=[STORES], summary="Stock over time: facings, missing facings and status per finished audit")
    def stock(path: StorePath, query: StockQuery) -> Response:
        tenant = principal().tenant_id
        with services.factory() as session:
            aisle = query.aisle
            if query.section is not None:
                aisle = stores.get_section(session, tenant, path.store_id, query.section).aisle
                if query.aisle is not None and query.aisle != aisle:
                    raise Invalid.one("aisle", "invalid_aisle", f"section {query.section} is aisle {aisle}, "
                                                                f"not {query.aisle}")
            return jsonify({"items": stores.stock_history(session, tenant, path.store_id, query.since or query.from_,
                                                          query.until or query.to, aisle)})

    @route(app, "get", "/v1/stores/<store_id>/activity", "read", ok={200: ActivityList}, errors=(404, 422),
           tags=[STORES], summary="What happened in the store, newest first",
           description="Audits done, alerts raised and cleared, stock levels changed.")
    def store_activity(path: StorePath, query: ActivityQuery) -> Response:
        with services.factory() as session:
            items, cursor = stores.activity(session, principal().tenant_id, path.store_id, query.limit, query.cursor)
        return jsonify({"items": items, "next_cursor": cursor})
