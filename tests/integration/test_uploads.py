"""Direct uploads: photos PUT straight into the S3-API server, checked at confirm, then queued."""

from __future__ import annotations

import hashlib
import uuid

import cv2
import numpy as np
import requests

from tests.conftest import SAMPLES, auth, post_audit, problem, wait_for


def declared(photo: bytes, content_type: str = "image/jpeg") -> dict:
    return {"content_type": content_type, "size": len(photo), "sha256": hashlib.sha256(photo).hexdigest()}


def begin(client, key: str, photos: list[dict], idem: str | None = None, **fields):
    headers = auth(key) | ({"Idempotency-Key": idem} if idem else {})
    return client.post("/v1/uploads", json={"store_id": "store-up", **fields, "photos": photos}, headers=headers)


def put(target: dict, data: bytes) -> int:
    """The phone's PUT: real HTTP to the S3-API server, with the signed headers."""
    return requests.request(target["method"], target["url"], data=data, headers=target["headers"],
                            timeout=10).status_code


def confirm(client, key: str, audit_id: str):
    return client.post(f"/v1/audits/{audit_id}/confirm", headers=auth(key))


def test_a_direct_upload_goes_from_the_phone_to_s3_to_the_farm(client, api_key, worker):
    photos = [SAMPLES[0].read_bytes(), SAMPLES[1].read_bytes()]
    started = begin(client, api_key, [declared(p) for p in photos], idem=f"up-{uuid.uuid4()}", aisle="3")
    assert started.status_code == 201
    body = started.get_json()
    assert started.headers["Location"] == body["url"]
    assert [u["position"] for u in body["uploads"]] == [0, 1]
    assert all(u["headers"]["Content-Type"] == "image/jpeg" and u["headers"]["x-amz-checksum-sha256"]
               for u in body["uploads"])
    assert client.get(body["url"], headers=auth(api_key)).get_json()["status"] == "awaiting_upload"
    # nothing uploaded yet: both photos named, nothing queued
    early = problem(confirm(client, api_key, body["audit_id"]), 422, "photo_not_uploaded")
    assert [e["field"] for e in early["errors"]] == ["photos[0]", "photos[1]"]
    assert put(body["uploads"][0], photos[0]) == 200
    assert put(body["uploads"][1], photos[0]) == 200  # the wrong photo in the second slot
    wrong = confirm(client, api_key, body["audit_id"])
    assert wrong.status_code == 422
    assert [(e["field"], e["code"]) for e in wrong.get_json()["errors"]] == [("photos[1]", "photo_size_mismatch")]
    # the same Idempotency-Key gives fresh URLs for the photos still awaited: here both (none confirmed)
    again = begin(client, api_key, [declared(p) for p in photos], idem=started.request.headers["Idempotency-Key"],
                  aisle="3")
    assert again.status_code == 200
    assert again.get_json()["replayed"] is True
    assert again.get_json()["audit_id"] == body["audit_id"]
    assert put(again.get_json()["uploads"][1], photos[1]) == 200
    queued = confirm(client, api_key, body["audit_id"])
    assert queued.status_code == 202
    assert queued.get_json()["replayed"] is False
    done = wait_for(client, body["url"], api_key)
    assert done["status"] == "done"
    # the same photos sent through the gateway give the same counts and photo sizes
    classic = wait_for(client, post_audit(client, api_key, photos, store="store-up", aisle="3").get_json()["url"],
                       api_key)
    assert done["counts"] == classic["counts"]
    sizes = [(j["photo"]["width"], j["photo"]["height"]) for j in done["jobs"]]
    assert sizes == [(j["photo"]["width"], j["photo"]["height"]) for j in classic["jobs"]]
    assert confirm(client, api_key, body["audit_id"]).get_json()["replayed"] is True  # confirmed once only
    assert begin(client, api_key, [declared(p) for p in photos], idem=started.request.headers["Idempotency-Key"],
                 aisle="3").get_json()["uploads"] == []  # nothing left to upload


def test_direct_upload_refusals(client, api_key, other_key, settings):
    photo = SAMPLES[0].read_bytes()
    r = client.post("/v1/uploads", data="store_id=x", headers=auth(api_key),
                    content_type="application/x-www-form-urlencoded")
    problem(r, 415, "unsupported_media_type")
    problem(begin(client, api_key, [declared(photo, "image/gif")]), 415, "unsupported_media_type")
    problem(begin(client, api_key, [declared(photo)] * (settings.max_photos_per_audit + 1)), 413, "too_many_photos")
    problem(begin(client, api_key, [{**declared(photo), "size": settings.max_photo_bytes + 1}]), 413,
            "photo_too_large")
    bad = problem(begin(client, api_key, [{**declared(photo), "sha256": "ab" * 31 + "ZZ"}, declared(b"")]), 422,
                  "invalid_sha256")
    assert {e["code"] for e in bad["errors"]} == {"invalid_sha256", "photo_empty"}
    problem(begin(client, api_key, []), 422, "no_photos")
    key = f"up-{uuid.uuid4()}"
    assert begin(client, api_key, [declared(photo)], idem=key).status_code == 201
    problem(begin(client, api_key, [declared(SAMPLES[1].read_bytes())], idem=key), 422, "idempotency_key_reused")
    mine = begin(client, api_key, [declared(photo)]).get_json()
    problem(confirm(client, other_key, mine["audit_id"]), 404, "audit_not_found")  # another tenant's
    problem(confirm(client, api_key, str(uuid.uuid4())), 404, "audit_not_found")
    # a photo over the pixel limit, found only once it is in the bucket: 413 at confirm
    huge = cv2.imencode(".png", np.zeros((7200, 7200), np.uint8))[1].tobytes()  # 51.8 MP, a few KB
    up = begin(client, api_key, [declared(huge, "image/png")]).get_json()
    assert put(up["uploads"][0], huge) == 200
    problem(confirm(client, api_key, up["audit_id"]), 413, "photo_too_many_pixels")
    # a PNG declared as a JPEG
    png = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes()
    up = begin(client, api_key, [declared(png, "image/jpeg")]).get_json()
    assert put(up["uploads"][0], png) == 200
    problem(confirm(client, api_key, up["audit_id"]), 422, "photo_type_mismatch")


def test_an_upload_never_confirmed_expires_without_judging_the_stock(client, api_key, factory, settings):
    from shared.storage import PhotoStore
    from shared.uploads import expire_uploads

    store = f"st-{uuid.uuid4().hex[:6]}"
    client.post("/v1/stores", json={"id": store}, headers=auth(api_key))
    section = client.post(f"/v1/stores/{store}/sections", json={"aisle": "1", "critical": 100},
                          headers=auth(api_key)).get_json()
    photo = SAMPLES[0].read_bytes()
    up = begin(client, api_key, [declared(photo)], store_id=store, aisle="1").get_json()
    assert put(up["uploads"][0], photo) == 200
    photos = PhotoStore(settings)
    expire_uploads(factory, photos, older_than_s=3600)  # not old enough: untouched
    assert client.get(up["url"], headers=auth(api_key)).get_json()["status"] == "awaiting_upload"
    expire_uploads(factory, photos, older_than_s=0)
    view = client.get(up["url"], headers=auth(api_key)).get_json()
    assert view["status"] == "failed"
    assert [j["failure"]["code"] for j in view["jobs"]] == ["upload_expired"]
    problem(confirm(client, api_key, up["audit_id"]), 409, "upload_expired")
    failed = client.get("/v1/events", query_string={"type": "audit.failed"}, headers=auth(api_key)).get_json()
    assert up["audit_id"] in [e["data"]["audit"]["id"] for e in failed["items"]]
    # no photo was read: the section's stock is not judged (no stock.low for 0 facings)
    sections = client.get(f"/v1/stores/{store}/sections", headers=auth(api_key)).get_json()["items"]
    assert [s["status"] for s in sections if s["id"] == section["id"]] == ["unknown"]
    assert client.get("/v1/events", query_string={"type": "stock.low"}, headers=auth(api_key)).get_json()["items"] == []
    job = client.get(f"/v1/jobs/{view['jobs'][0]['id']}", headers=auth(api_key)).get_json()
    assert job["status"] == "failed"
    with factory() as session:  # the uploaded photo is deleted with the audit's failure
        from shared.models import Job

        assert photos.head(session.get(Job, uuid.UUID(job["id"])).photo_key) is None


def test_a_photo_swapped_for_one_of_the_same_size_fails_its_job_at_the_worker(client, api_key, worker, factory):
    """The local S3-API server keeps no checksum: the worker hashes the photo it fetches anyway."""
    from shared.models import Job

    photo = SAMPLES[0].read_bytes()
    tampered = photo[:-100] + bytes(b ^ 0xFF for b in photo[-100:-2]) + photo[-2:]  # same size, header intact
    assert len(tampered) == len(photo)
    up = begin(client, api_key, [declared(photo), declared(photo)]).get_json()
    assert put(up["uploads"][0], photo) == 200
    assert put(up["uploads"][1], tampered) == 200
    assert confirm(client, api_key, up["audit_id"]).status_code == 202  # size, type and pixels are right
    audit = wait_for(client, up["url"], api_key)
    assert audit["status"] == "partial"
    assert [j["status"] for j in audit["jobs"]] == ["done", "failed"]
    assert audit["jobs"][1]["failure"]["code"] == "photo_checksum_mismatch"
    with factory() as session:  # the good photo was checked once: a re-scan does not hash it again
        assert session.get(Job, uuid.UUID(audit["jobs"][0]["id"])).photo_checksum_pending is False
