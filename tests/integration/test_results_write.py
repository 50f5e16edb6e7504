"""A result's detections are written by COPY: the rows read back are exactly the detector's."""

from __future__ import annotations

from sqlalchemy import select

from shared.batches import insert_result
from shared.db import transaction
from shared.detector import Detection as Found
from shared.models import Audit, Detection, Job, Result


def test_detections_round_trip_through_copy(factory, tenant, api_key):
    # awkward values on purpose: text COPY escapes (tab, backslash, newline), floats that
    # only survive as their exact repr, a box on the photo's edge
    found = [Found(0, "product", 0.1 + 0.2, (0.0, 1e-7, 1 / 3, 2 / 3)),
             Found(1, "odd\tname\\with\nescapes", 0.987654321012345, (10.5, 20.25, 1023.999, 767.0)),
             Found(0, "product", 1.0, (5.0, 5.0, 6.0, 6.0))]
    with transaction(factory) as session:
        audit = Audit(tenant_id=tenant, store_id="s", request_hash="0" * 64)
        session.add(audit)
        session.flush()
        job = Job(tenant_id=tenant, audit_id=audit.id, position=0, photo_key="k", photo_sha256="0" * 64, photo_bytes=1)
        session.add(job)
        session.flush()
        job_id = job.id
        assert insert_result(session, job_id, tenant, "v-test", found, "b", 1, {})
    with transaction(factory) as session:  # the same (job, version) again: nothing more is written
        assert not insert_result(session, job_id, tenant, "v-test", found, "b", 1, {})
    with factory() as session:
        result_id = session.execute(select(Result.id).where(Result.job_id == job_id)).scalar_one()
        rows = session.execute(
            select(Detection.tenant_id, Detection.class_id, Detection.class_name, Detection.confidence,
                   Detection.x1, Detection.y1, Detection.x2, Detection.y2)
            .where(Detection.result_id == result_id).order_by(Detection.id)).all()
    assert [tuple(r) for r in rows] == [(tenant, d.class_id, d.class_name, d.confidence, *d.box) for d in found]
