"""Review routes: a person's corrections of a job's boxes (the review page saves through these)."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import OpenAPI, Tag

from api.contract import route
from api.schemas import JobPath, ReviewIn, ReviewOut
from api.services import Services, principal
from shared import reviews, views
from shared.db import transaction
from shared.model_store import ModelStore

REVIEWS = Tag(name="reviews", description="corrections of a job's detections, which become training labels")


def register(app: OpenAPI, services: Services) -> None:
    models = ModelStore(services.settings)

    def classes_of(version: str | None) -> list[str]:
        card = models.versions().get(version or "", {}).get("card", {})
        return list(card.get("classes") or ["product"])

    @route(app, "put", "/v1/jobs/<job_id>/review", "submit", ok={200: ReviewOut}, errors=(404, 409, 422),
           consumes="application/json", tags=[REVIEWS], summary="Save a person's corrections of a job's boxes",
           description="The whole corrected set of boxes: what the photo really holds. Each save is a new "
                       "revision (who and when are kept); `shelfwatch labels export` writes the newest of each "
                       "job as a YOLO dataset. 409 while the job is not done.")
    def save_review(path: JobPath, body: ReviewIn) -> Response:
        with transaction(services.factory) as session:
            job = views.get_job(session, principal().tenant_id, path.job_id)
            review = reviews.save_review(session, principal(), path.job_id,
                                         [b.model_dump(by_alias=True) for b in body.boxes],
                                         classes_of(body.model_version or job.model_version), body.model_version)
            return jsonify(reviews.review_view(review))

    @route(app, "get", "/v1/jobs/<job_id>/review", "read", ok={200: ReviewOut}, errors=(404,), tags=[REVIEWS],
           summary="The newest review of a job")
    def get_review(path: JobPath) -> Response:
        with services.factory() as session:
            return jsonify(reviews.review_view(reviews.latest_review(session, principal().tenant_id, path.job_id)))
