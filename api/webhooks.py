"""Webhook routes (admin scope) and the event feed: endpoints, their deliveries, redelivery."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import OpenAPI, Tag

from api.contract import route
from api.schemas import (
    DeliveryList,
    DeliveryQuery,
    EventList,
    EventPath,
    EventQuery,
    Queued,
    WebhookCreate,
    WebhookList,
    WebhookOut,
    WebhookPath,
    WebhookUpdate,
    WebhookWithSecret,
)
from api.services import Services, principal
from shared import delivery, events, webhooks
from shared.celery_app import enqueue_deliveries
from shared.db import transaction

WEBHOOKS = Tag(name="webhooks", description="signed event deliveries to your systems (ERP)")
EVENTS = Tag(name="events", description="what happened: the same events webhooks deliver, to pull")


def register(app: OpenAPI, services: Services) -> None:
    settings = services.settings

    @route(app, "post", "/v1/webhooks", "admin", ok={201: WebhookWithSecret}, errors=(422,),
           consumes="application/json", tags=[WEBHOOKS], summary="Register a webhook endpoint",
           description="The signing secret is in this response only.")
    def create_webhook(body: WebhookCreate) -> tuple[Response, int]:
        with transaction(services.factory) as session:
            made = webhooks.create_endpoint(session, settings, principal().tenant_id, body.url, list(body.events),
                                            body.description)
            return jsonify(webhooks.endpoint_view(made, with_secret=True)), 201

    @route(app, "get", "/v1/webhooks", "admin", ok={200: WebhookList}, tags=[WEBHOOKS], summary="List webhooks")
    def list_webhooks() -> Response:
        with services.factory() as session:
            return jsonify({"items": [webhooks.endpoint_view(e)
                                      for e in webhooks.list_endpoints(session, principal().tenant_id)]})

    @route(app, "get", "/v1/webhooks/<webhook_id>", "admin", ok={200: WebhookOut}, errors=(404,), tags=[WEBHOOKS],
           summary="A webhook endpoint")
    def get_webhook(path: WebhookPath) -> Response:
        with services.factory() as session:
            return jsonify(webhooks.endpoint_view(webhooks.get_endpoint(session, principal().tenant_id,
                                                                        path.webhook_id)))

    @route(app, "patch", "/v1/webhooks/<webhook_id>", "admin", ok={200: WebhookOut}, errors=(404, 422),
           consumes="application/json", tags=[WEBHOOKS], summary="Change a webhook: URL, events, enabled")
    def update_webhook(path: WebhookPath, body: WebhookUpdate) -> Response:
        with transaction(services.factory) as session:
            endpoint = webhooks.get_endpoint(session, principal().tenant_id, path.webhook_id)
            webhooks.update_endpoint(session, settings, endpoint, url=body.url,
                                     events=list(body.events) if body.events is not None else None,
                                     description=body.description, enabled=body.enabled)
            return jsonify(webhooks.endpoint_view(endpoint))

    @route(app, "delete", "/v1/webhooks/<webhook_id>", "admin", ok={200: WebhookOut}, errors=(404,), tags=[WEBHOOKS],
           summary="Delete a webhook and its delivery log")
    def delete_webhook(path: WebhookPath) -> Response:
        with transaction(services.factory) as session:
            endpoint = webhooks.get_endpoint(session, principal().tenant_id, path.webhook_id)
            view = webhooks.endpoint_view(endpoint)
            session.delete(endpoint)
            return jsonify(view)

    @route(app, "post", "/v1/webhooks/<webhook_id>/rotate-secret", "admin", ok={200: WebhookWithSecret},
           errors=(404,), tags=[WEBHOOKS], summary="A new signing secret",
           description="The old secret keeps signing (a second `v1=`) until `previous_secret_until`.")
    def rotate_secret(path: WebhookPath) -> Response:
        with transaction(services.factory) as session:
            endpoint = webhooks.get_endpoint(session, principal().tenant_id, path.webhook_id)
            webhooks.rotate_secret(endpoint, settings.webhook_secret_overlap_s)
            return jsonify(webhooks.endpoint_view(endpoint, with_secret=True))

    @route(app, "post", "/v1/webhooks/<webhook_id>/test", "admin", ok={202: Queued}, errors=(404,),
           tags=[WEBHOOKS], summary="Send a ping event to this endpoint")
    def test_webhook(path: WebhookPath) -> tuple[Response, int]:
        with transaction(services.factory) as session:
            endpoint = webhooks.get_endpoint(session, principal().tenant_id, path.webhook_id)
            recorded = events.record_event(session, endpoint.tenant_id, "ping",
                                           {"webhook_id": str(endpoint.id)}, endpoints=[endpoint.id])
        enqueue_deliveries(services.celery, [str(d) for d in recorded.deliveries])  # after the commit
        return jsonify({"event_id": str(recorded.event_id), "deliveries": [str(d) for d in recorded.deliveries]}), 202

    @route(app, "get", "/v1/webhooks/<webhook_id>/deliveries", "admin", ok={200: DeliveryList}, errors=(404, 422),
           tags=[WEBHOOKS], summary="The delivery log: every delivery to this endpoint and each attempt")
    def webhook_deliveries(path: WebhookPath, query: DeliveryQuery) -> Response:
        with services.factory() as session:
            items, cursor = delivery.list_deliveries(session, principal().tenant_id, path.webhook_id,
                                                     status=query.status, limit=query.limit, cursor=query.cursor)
        return jsonify({"items": items, "next_cursor": cursor})

    @route(app, "get", "/v1/events", "read", ok={200: EventList}, errors=(422,), tags=[EVENTS],
           summary="Events, newest first", description="What the webhooks deliver, to catch up by pulling.")
    def list_events(query: EventQuery) -> Response:
        with services.factory() as session:
            items, cursor = events.list_events(session, principal().tenant_id, type_=query.type, since=query.since,
                                               limit=query.limit, cursor=query.cursor)
        return jsonify({"items": items, "next_cursor": cursor})

    @route(app, "post", "/v1/events/<event_id>/redeliver", "admin", ok={202: Queued}, errors=(404,), tags=[EVENTS],
           summary="Deliver an event again to the endpoints that got it")
    def redeliver(path: EventPath) -> tuple[Response, int]:
        with transaction(services.factory) as session:
            ids = delivery.redeliver(session, principal().tenant_id, path.event_id)
        enqueue_deliveries(services.celery, [str(d) for d in ids])
        return jsonify({"event_id": path.event_id, "deliveries": [str(d) for d in ids]}), 202
