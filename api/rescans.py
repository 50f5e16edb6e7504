"""Re-scan routes (admin scope): a tenant's stored photos analysed again with a model version."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import OpenAPI, Tag

from api.contract import route
from api.schemas import RescanAction, RescanCreate, RescanDiff, RescanList, RescanOut, RescanPath, RescanPlan
from api.services import Services, principal
from shared import rescan_diff, rescans
from shared.db import transaction
from shared.model_store import ModelStore

RESCANS = Tag(name="rescans", description="analyse stored photos again with another model version")


def register(app: OpenAPI, services: Services) -> None:
    models = ModelStore(services.settings)

    @route(app, "post", "/v1/rescans", "admin", ok={201: RescanOut, 200: RescanPlan}, errors=(422,),
           consumes="application/json", tags=[RESCANS], summary="Start a re-scan (or plan one: dry_run)",
           description="Photos already analysed by that version are skipped. Beat feeds the run in chunks.")
    def create_rescan(body: RescanCreate) -> tuple[Response, int]:
        version = body.model_version or models.serving("accurate")[0]
        scope = rescans.Scope(principal().tenant_id, body.store_id, body.since, body.until)
        with transaction(services.factory) as session:
            if body.dry_run:
                return jsonify({"dry_run": True, "model_version": version,
                                **rescans.plan(session, scope, version)}), 200
            run = rescans.create_run(session, scope, version, set(models.versions()),
                                     created_by=principal().prefix)
            return jsonify(rescans.run_view(run)), 201

    @route(app, "get", "/v1/rescans", "admin", ok={200: RescanList}, tags=[RESCANS], summary="Re-scans, newest first")
    def list_rescans() -> Response:
        with services.factory() as session:
            return jsonify({"items": [rescans.run_view(r) for r in rescans.list_runs(session, principal().tenant_id)]})

    @route(app, "get", "/v1/rescans/<rescan_id>", "admin", ok={200: RescanOut}, errors=(404,), tags=[RESCANS],
           summary="A re-scan: done, failed, remaining, rate and ETA")
    def get_rescan(path: RescanPath) -> Response:
        with services.factory() as session:
            return jsonify(rescans.run_view(rescans.get_run(session, path.rescan_id, principal().tenant_id)))

    @route(app, "post", "/v1/rescans/<rescan_id>/<action>", "admin", ok={200: RescanOut}, errors=(404, 409),
           tags=[RESCANS], summary="Pause, resume or cancel a re-scan",
           description="Pause and cancel stop feeding at once; photos already on the queue finish (cancel: skip).")
    def steer_rescan(path: RescanAction) -> Response:
        with transaction(services.factory) as session:
            run = rescans.get_run(session, path.rescan_id, principal().tenant_id, lock=True)
            return jsonify(rescans.run_view(rescans.steer(session, run, path.action)))

    @route(app, "get", "/v1/rescans/<rescan_id>/diff", "admin", ok={200: RescanDiff}, errors=(404,), tags=[RESCANS],
           summary="Old against new counts, per store and class; the photos that changed most")
    def diff_rescan(path: RescanPath) -> Response:
        with services.factory() as session:
            run = rescans.get_run(session, path.rescan_id, principal().tenant_id)
            return jsonify(rescan_diff.diff(session, run))
