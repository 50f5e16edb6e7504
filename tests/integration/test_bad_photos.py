"""Photos that are not shelves, or not photos at all, fail alone, with a reason; the rest of the batch stands.

The worker's own batch function (``shared.batches.process_batch``) on the real database
and object storage, with v11 (which finds hundreds of "products" on noise: the not-a-shelf
check must fail it) and each model the registry serves, at its size, with the limits its
card measured (a model that finds fewer boxes on noise than the check's ``MIN_DETECTIONS``
has the photo counted with those few, never as a shelf of products; one that finds more must
have it refused by its card's limits; v1, the tests' pin, finds nothing at all on noise).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shared import registry
from shared.plausibility import MIN_DETECTIONS
from tests.conftest import SAMPLES
from tests.paths import MODELS


def noise_jpeg(seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


SERVED = list(dict.fromkeys((spec.model.stem, spec.input_size) for spec in registry.resolve(MODELS, None).values()))


@pytest.mark.parametrize(("model", "size"), [("shelfwatch-v11-int8", None), *SERVED],
                         ids=lambda v: str(v) if v else "card")
def test_noise_and_a_poison_photo_fail_alone_and_the_shelves_in_their_batch_are_counted(factory, settings, tenant,
                                                                                        api_key, model, size):
    from shared.audits import submit_audit
    from shared.batches import process_batch
    from shared.detector import Detector
    from shared.models import Job, Result
    from shared.storage import PhotoStore

    shelf = SAMPLES[3].read_bytes()
    sample = cv2.imread(str(SAMPLES[0]))
    assert sample is not None
    good = cv2.imencode(".jpg", sample)[1].tobytes()
    poison = good[:600] + bytes(len(good) - 600)  # a readable header, then nothing an image decoder can use
    store = PhotoStore(settings)
    photos = [shelf, noise_jpeg(1), poison, good]
    sub = submit_audit(factory, store, settings, tenant_id=tenant, store_id="bad", aisle=None, captured_at=None,
                       idempotency_key=None, photos=photos)
    detector = Detector(MODELS / f"{model}.onnx", threads=1, input_size=size)
    report = process_batch(factory, store, {"accurate": detector, "fast": detector}, [str(j) for j in sub.job_ids])
    with factory() as session:
        jobs = {j.id: j for j in session.query(Job).filter(Job.id.in_(sub.job_ids))}
        counted = {r.job_id: r.detection_count for r in session.query(Result).filter(Result.job_id.in_(sub.job_ids))}
    shelf_job, noise_job, poison_job, good_job = (jobs[j] for j in sub.job_ids)
    assert (shelf_job.status, good_job.status) == ("done", "done")
    boxes_on_noise = len(detector.detect(photos[1]))
    if model == "shelfwatch-v11-int8" or boxes_on_noise >= MIN_DETECTIONS:  # a "shelf" of noise: refused
        assert boxes_on_noise >= MIN_DETECTIONS
        assert noise_job.status == "failed"
        assert noise_job.failure_code == "not_a_shelf"
        assert "noise" in noise_job.failure_reason
        failed = [noise_job.id, poison_job.id]
    else:  # too few boxes to be a shelf's count, or to judge: counted as they are
        assert noise_job.status == "done"
        assert counted[noise_job.id] == boxes_on_noise
        failed = [poison_job.id]
    assert poison_job.status == "failed"
    assert poison_job.failure_code == "photo_undecodable"
    assert sorted(report.failed) == sorted(str(j) for j in failed)


def test_object_storage_down_during_a_batch_puts_its_jobs_back_for_a_retry(factory, settings, tenant, api_key):
    from shared.audits import submit_audit
    from shared.batches import process_batch
    from shared.detector import Detector
    from shared.models import Job
    from shared.storage import PhotoStore

    store = PhotoStore(settings)
    sub = submit_audit(factory, store, settings, tenant_id=tenant, store_id="s3-down", aisle=None, captured_at=None,
                       idempotency_key=None, photos=[SAMPLES[0].read_bytes(), SAMPLES[1].read_bytes()])
    ids = [str(j) for j in sub.job_ids]
    detector = Detector(MODELS / "shelfwatch-v1-int8.onnx", threads=1)
    gone = PhotoStore(settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"}))
    report = process_batch(factory, gone, {"accurate": detector, "fast": detector}, ids)
    assert sorted(r.job_id for r in report.retry) == sorted(ids)  # transient: sent again with backoff
    with factory() as session:
        assert {j.status for j in session.query(Job).filter(Job.id.in_(sub.job_ids))} == {"queued"}
    again = process_batch(factory, store, {"accurate": detector, "fast": detector}, ids)  # storage is back
    assert sorted(again.done) == sorted(ids)
