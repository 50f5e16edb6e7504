"""Re-scans on real services: beat feeding runs, a re-scan worker pool, models from the bucket.

The bucket's registry serves v1 in both modes; v11 is a registered candidate, the
"second real model version" each re-scan here runs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from shared.detector import Detector
from tests.conftest import SAMPLES, WEBHOOK_ENV, auth, post_audit, problem, wait_for
from tests.farms import Farm
from tests.paths import MODELS

V11 = "shelfwatch-v11-int8"


@pytest.fixture(scope="module")
def rescan_farm(stack, worker, tmp_path_factory) -> Iterator[Farm]:
    """The re-scan pool and, for beat's bookkeeping (feeding runs), the webhooks pool, as in production."""
    cache = tmp_path_factory.mktemp("model-cache")
    env = {**os.environ, **stack.env(), **WEBHOOK_ENV, "ENV": "test", "BATCH_WAIT_MS": "200",
           "MODEL_CACHE_DIR": str(cache)}
    env.pop("MODEL_PATH", None)
    farm = Farm(env, tmp_path_factory.mktemp("rescans"),
                ["worker", "--queues", "rescans", "--concurrency", "1", "--nice", "10"],
                {"webhooks": ["worker", "--queues", "webhooks", "--pool", "threads", "--concurrency", "4"]})
    yield farm
    farm.close()


def audits_done(client, key: str, photos: list[bytes], store: str) -> list[dict]:
    body = post_audit(client, key, photos, store=store).get_json()
    return wait_for(client, f"/v1/audits/{body['audit_id']}", key, timeout=120)["jobs"]


def start(client, key: str, **body) -> dict:
    r = client.post("/v1/rescans", json=body, headers=auth(key))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def wait_run(client, key: str, run_id: str, states=("completed",), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/v1/rescans/{run_id}", headers=auth(key)).get_json()
        if run["state"] in states:
            return run
        time.sleep(0.2)
    raise AssertionError(f"re-scan {run_id} not {states} within {timeout} s: {run}")


def test_a_rescan_with_another_version_completes_with_a_correct_diff(client, api_key, rescan_farm):
    photos = [p.read_bytes() for p in SAMPLES]
    jobs = audits_done(client, api_key, photos, store="north")
    assert {j["model_version"] for j in jobs} == {"shelfwatch-v1-int8"}
    plan = client.post("/v1/rescans", json={"model_version": V11, "dry_run": True}, headers=auth(api_key))
    assert plan.status_code == 200
    assert plan.get_json()["to_scan"] == len(photos)
    assert client.get("/v1/rescans", headers=auth(api_key)).get_json()["items"] == []  # dry run: nothing made
    run = wait_run(client, api_key, start(client, api_key, model_version=V11)["id"])
    assert (run["done"], run["failed"], run["remaining"], run["total"]) == (len(photos), 0, 0, len(photos))
    v11 = Detector(MODELS / f"{V11}.onnx")
    expected = [len(v11.detect(p)) for p in photos]
    diff = client.get(f"/v1/rescans/{run['id']}/diff", headers=auth(api_key)).get_json()
    assert diff["totals"]["old"] == sum(sum(j["counts"].values()) for j in jobs)
    assert diff["totals"]["new"] == sum(expected)
    assert diff["by_store_and_class"] == [{"store_id": "north", "class": "product", "old": diff["totals"]["old"],
                                           "new": sum(expected), "change": sum(expected) - diff["totals"]["old"],
                                           "change_pct": diff["totals"]["change_pct"], "photos": len(photos)}]
    assert abs(diff["most_changed"][0]["change"]) == max(abs(e - sum(j["counts"].values()))
                                                         for e, j in zip(expected, jobs, strict=True))
    # side by side: the served result is still v1's; ?model_version= shows v11's
    served = client.get(f"/v1/jobs/{jobs[0]['id']}", headers=auth(api_key)).get_json()
    other = client.get(f"/v1/jobs/{jobs[0]['id']}", query_string={"model_version": V11}, headers=auth(api_key))
    assert served["model_version"] == "shelfwatch-v1-int8"
    assert other.get_json()["detection_count"] == expected[0] == len(other.get_json()["detections"])
    problem(client.get(f"/v1/jobs/{jobs[0]['id']}", query_string={"model_version": "nope"}, headers=auth(api_key)),
            404, "result_not_found")
    # a second run of the same version skips every photo, and completes with nothing to do
    again = wait_run(client, api_key, start(client, api_key, model_version=V11)["id"])
    assert (again["skipped"], again["done"]) == (len(photos), 0)
    types = [e["type"] for e in client.get("/v1/events", headers=auth(api_key)).get_json()["items"]]
    assert types.count("rescan.completed") == 2


def test_a_killed_rescan_worker_and_resume_leave_no_duplicate(client, api_key, factory, rescan_farm):
    from shared.models import Result

    photos = [p.read_bytes() for p in SAMPLES] * 3
    jobs = audits_done(client, api_key, photos, store="south")
    run = start(client, api_key, model_version=V11, store_id="south")
    deadline = time.monotonic() + 60
    while client.get(f"/v1/rescans/{run['id']}", headers=auth(api_key)).get_json()["done"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rescan_farm.kill_worker()
    client.post(f"/v1/rescans/{run['id']}/pause", headers=auth(api_key))
    rescan_farm.worker = rescan_farm.start_worker()
    assert client.post(f"/v1/rescans/{run['id']}/resume", headers=auth(api_key)).status_code == 200
    done = wait_run(client, api_key, run["id"], timeout=120)
    assert (done["done"], done["failed"]) == (len(photos), 0)
    with factory() as s:
        rows = s.execute(select(Result.job_id, func.count()).where(
            Result.job_id.in_([uuid.UUID(j["id"]) for j in jobs]), Result.model_version == V11)
            .group_by(Result.job_id)).all()
    assert len(rows) == len(photos)
    assert {n for _, n in rows} == {1}


def test_pause_and_cancel_stop_feeding(client, api_key, factory, rescan_farm):
    from shared.models import RescanRun

    audits_done(client, api_key, [SAMPLES[0].read_bytes()], store="east")
    run = start(client, api_key, model_version=V11, store_id="east")
    paused = client.post(f"/v1/rescans/{run['id']}/pause", headers=auth(api_key))
    assert paused.get_json()["state"] == "paused"
    problem(client.post(f"/v1/rescans/{run['id']}/pause", headers=auth(api_key)), 409, "rescan_state")
    with factory() as s:
        sent = s.get(RescanRun, uuid.UUID(run["id"])).sent
    time.sleep(1.5)  # five feeds of beat
    with factory() as s:
        assert s.get(RescanRun, uuid.UUID(run["id"])).sent == sent
    cancelled = client.post(f"/v1/rescans/{run['id']}/cancel", headers=auth(api_key)).get_json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["finished_at"]
    problem(client.post(f"/v1/rescans/{run['id']}/resume", headers=auth(api_key)), 409, "rescan_state")


def test_a_corrupt_model_in_the_bucket_fails_the_items_not_the_worker(client, api_key, settings, rescan_farm):
    from shared.model_store import PREFIX, ModelStore

    audits_done(client, api_key, [SAMPLES[1].read_bytes()], store="west")
    store = ModelStore(settings).store
    store.put(PREFIX + "shelfwatch-v11-fp32.onnx", b"not a model at all", "application/octet-stream")
    run = wait_run(client, api_key, start(client, api_key, model_version="shelfwatch-v11-fp32", store_id="west")["id"])
    assert (run["done"], run["failed"]) == (0, 1)
    assert rescan_farm.worker.poll() is None  # the worker is alive
    problem(client.post("/v1/rescans", json={"model_version": "shelfwatch-v99"}, headers=auth(api_key)),
            422, "invalid_model_version")
    problem(client.get(f"/v1/rescans/{uuid.uuid4()}", headers=auth(api_key)), 404, "rescan_not_found")
    problem(client.get(f"/v1/rescans/{uuid.uuid4()}/diff", headers=auth(api_key)), 404, "rescan_not_found")
    problem(client.post(f"/v1/rescans/{uuid.uuid4()}/pause", headers=auth(api_key)), 404, "rescan_not_found")
    problem(client.post("/v1/rescans", data={"store_id": "x"}, headers=auth(api_key)), 415, "unsupported_media_type")
    problem(client.get(f"/v1/jobs/{uuid.uuid4()}", query_string={"model_version": "v" * 65}, headers=auth(api_key)),
            422, "invalid_model_version")


def test_a_promotion_serves_new_audits_without_a_worker_restart(client, api_key, settings, worker):
    from shared.model_store import ModelStore

    models = ModelStore(settings)
    before = models.registry()
    try:
        changed = {**before, "modes": {**before["modes"], "fast": {"model": f"{V11}.onnx"}}}
        models.write_registry(changed)
        time.sleep(1.2)  # MODEL_REGISTRY_TTL_S is 1 s in the tests
        fast = audits_done(client, api_key, [SAMPLES[2].read_bytes()], store="promo")
        post = post_audit(client, api_key, [SAMPLES[2].read_bytes()], store="promo", mode="fast").get_json()
        job = wait_for(client, f"/v1/jobs/{post['job_ids'][0]}", api_key)
        assert fast[0]["model_version"] == "shelfwatch-v1-int8"  # accurate still v1
        assert job["model_version"] == V11
    finally:
        models.write_registry(before)


def test_an_audit_is_not_held_up_by_a_saturated_rescan(client, api_key, factory, tenant, rescan_farm):
    """Hundreds of re-scan photos queued; an audit still finishes in its own pool's time."""
    from sqlalchemy import insert

    from shared.db import transaction
    from shared.models import Audit, Job, Result

    first = audits_done(client, api_key, [SAMPLES[3].read_bytes()], store="bulk")[0]
    with factory() as s:
        key = s.get(Job, uuid.UUID(first["id"])).photo_key
    with transaction(factory) as s:  # 300 stored photos (the same object), analysed by v1
        audit_id = uuid.uuid4()
        s.execute(insert(Audit).values(id=audit_id, tenant_id=tenant, store_id="bulk", request_hash="x",
                                       status="done"))
        ids = [uuid.uuid4() for _ in range(300)]
        s.execute(insert(Job), [{"id": j, "tenant_id": tenant, "audit_id": audit_id, "position": i, "photo_key": key,
                                 "photo_sha256": "0" * 64, "photo_bytes": 1, "width": 1, "height": 1,
                                 "status": "done", "model_version": "shelfwatch-v1-int8"} for i, j in enumerate(ids)])
        s.execute(insert(Result), [{"tenant_id": tenant, "job_id": j, "model_version": "shelfwatch-v1-int8",
                                    "counts": {"product": 1}, "detection_count": 1, "timings_ms": {},
                                    "batch_id": "b", "batch_size": 1} for j in ids])
    idle = []
    for _ in range(3):
        t0 = time.perf_counter()
        audits_done(client, api_key, [SAMPLES[0].read_bytes()], store="idle")
        idle.append(time.perf_counter() - t0)
    run = start(client, api_key, model_version=V11, store_id="bulk")
    deadline = time.monotonic() + 60
    while client.get(f"/v1/rescans/{run['id']}", headers=auth(api_key)).get_json()["in_flight"] < 100:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    busy = []
    for _ in range(3):
        t0 = time.perf_counter()
        audits_done(client, api_key, [SAMPLES[0].read_bytes()], store="busy")
        busy.append(time.perf_counter() - t0)
    status = client.get(f"/v1/rescans/{run['id']}", headers=auth(api_key)).get_json()
    print(f"audit seconds idle {[round(x, 2) for x in idle]}, during the re-scan {[round(x, 2) for x in busy]} "
          f"(re-scan in flight {status['in_flight']}, done {status['done']})")
    assert status["remaining"] > 0  # the re-scan was still saturating its pool
    assert max(busy) <= max(3 * max(idle), max(idle) + 2.0)
    client.post(f"/v1/rescans/{run['id']}/cancel", headers=auth(api_key))


def test_the_nightly_run_is_not_started_twice(factory, settings, client, api_key, rescan_farm):
    from shared import rescans
    from shared.db import transaction
    from shared.model_store import ModelStore

    models = ModelStore(settings)
    with transaction(factory) as s:
        first = rescans.start_nightly(s, models)
    with transaction(factory) as s:
        second = rescans.start_nightly(s, models)
    assert first is not None
    try:
        assert second is None  # one is open: not started twice
        with factory() as s:
            run = rescans.get_run(s, first)
            assert run.tenant_id is None  # every tenant
            assert run.model_version == models.serving("accurate")[0]
    finally:
        with transaction(factory) as s:
            run = rescans.get_run(s, first, lock=True)
            if run.state in ("running", "paused"):
                rescans.steer(s, run, "cancel")


def test_the_rescan_command(cli_env, capsys, client, api_key, tenant, rescan_farm):
    from ops.cli import main

    audits_done(client, api_key, [SAMPLES[0].read_bytes()], store="cli")
    assert main(["rescan", "start", "--tenant", tenant, "--model-version", V11, "--dry-run"]) == 0
    assert "1 photos in scope, 0 already analysed by it, 1 to re-scan; nothing created" in capsys.readouterr().out
    assert main(["rescan", "start", "--tenant", tenant, "--model-version", V11, "--watch"]) == 0
    out, err = capsys.readouterr()
    run_id = out.split()[1]
    assert "completed [##############################] 100.0%  done 1, failed 0, remaining 0 of 1" in err
    assert main(["rescan", "diff", run_id, "--csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0] == "store_id,class,old,new,change,change_pct,photos"
    assert csv_lines[1].startswith("cli,product,")
    with pytest.raises(SystemExit, match="rescan_state"):
        main(["rescan", "pause", run_id])
