"""Drift and accuracy on real services: the statistics land in Postgres and on /metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from shared import model_health
from shared.db import transaction


def gauges(client) -> dict:
    text = client.get("/metrics").data.decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_drift_of_a_store_whose_counts_jumped(client, factory, tenant, api_key):
    from shared.models import Audit, Job, Result

    now, rng = datetime.now(UTC), np.random.default_rng(5)
    audit_id = uuid.uuid4()
    jobs, results = [], []
    for i in range(120):  # 60 photos in the reference week, 60 in the last day, the latter ~40 % fuller
        recent = i >= 60
        job_id = uuid.uuid4()
        finished = now - (timedelta(hours=rng.uniform(1, 20)) if recent else timedelta(hours=rng.uniform(30, 150)))
        jobs.append({"id": job_id, "tenant_id": tenant, "audit_id": audit_id, "position": i, "photo_key": "k",
                     "photo_sha256": "0" * 64, "photo_bytes": 1, "width": 1, "height": 1, "status": "done",
                     "model_version": "m", "finished_at": finished})
        count = int(rng.normal(140 if recent else 100, 12))
        results.append({"tenant_id": tenant, "job_id": job_id, "model_version": "m", "counts": {"product": count},
                        "detection_count": count, "timings_ms": {}, "batch_id": "b", "batch_size": 1})
    with transaction(factory) as s:
        s.execute(insert(Audit).values(id=audit_id, tenant_id=tenant, store_id="drifty", request_hash="x"))
        s.execute(insert(Job), jobs)
        s.execute(insert(Result), results)
    with transaction(factory) as s:
        rows = [r for r in model_health.compute_drift(s) if r["tenant_id"] == tenant]
        model_health.save(s, rows)
    facings = next(r for r in rows if r["signal"] == "facings_per_photo")
    assert facings["value"] > 0.25
    assert facings["samples"] == 60
    metric = gauges(client)[("shelfwatch_drift_psi", (("signal", "facings_per_photo"), ("store", "drifty"),
                                                     ("tenant", tenant)))]
    assert metric == facings["value"]


def test_the_accuracy_watch_scores_the_serving_model_and_sees_a_bad_promotion(client, settings, factory):
    from shared.model_store import ModelStore

    models = ModelStore(settings)
    good = {r["mode"]: r for r in model_health.accuracy_watch(models, models.store)}
    assert good["accurate"]["version"] == "shelfwatch-v1-int8"
    assert good["accurate"]["samples"] == 8
    assert good["accurate"]["value"] > 0.9
    before = models.registry()
    try:  # a bad promotion: the same model at a sixth of the pixels
        worse = {"model": "shelfwatch-v1-int8.onnx", "input_size": 256}
        models.write_registry({**before, "modes": {**before["modes"], "accurate": worse}})
        models._registry = None
        bad = {r["mode"]: r for r in model_health.accuracy_watch(models, models.store)}
    finally:
        models.write_registry(before)
    assert bad["accurate"]["version"] == "shelfwatch-v1-int8@256"
    assert bad["accurate"]["value"] < good["accurate"]["value"] - 0.1
    with transaction(factory) as s:
        model_health.save(s, list(bad.values()))
    shown = gauges(client)[("shelfwatch_accuracy_map50", (("mode", "accurate"), ("version", "shelfwatch-v1-int8@256")))]
    assert shown == bad["accurate"]["value"]
