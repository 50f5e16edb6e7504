"""A canary model: a fixed share of a mode's jobs (by job id) go to a candidate version; one
command promotes it or ends it; the API and the metrics tell the two apart."""

from __future__ import annotations

import json
import uuid

from tests.conftest import SAMPLES, auth
from tests.paths import MODELS


def test_the_canary_takes_its_share_of_jobs_by_id():
    from shared.batches import in_canary

    ids = [uuid.UUID(int=i * 7919 + 13) for i in range(20_000)]
    share = sum(in_canary(j, 0.1) for j in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert not any(in_canary(j, 0.0) for j in ids[:1000])
    assert all(in_canary(j, 1.0) for j in ids[:1000])
    assert [in_canary(j, 0.3) for j in ids[:500]] == [in_canary(j, 0.3) for j in ids[:500]]  # fixed per job


def test_a_batch_sends_the_canarys_jobs_to_the_candidate(factory, settings, tenant, api_key):
    from sqlalchemy import select

    from shared.audits import submit_audit
    from shared.batches import in_canary, process_batch
    from shared.detector import Detector
    from shared.models import Job, Result
    from shared.storage import PhotoStore

    store = PhotoStore(settings)
    sub = submit_audit(factory, store, settings, tenant_id=tenant, store_id="canary", aisle=None, captured_at=None,
                       idempotency_key=None, photos=[SAMPLES[k % len(SAMPLES)].read_bytes() for k in range(12)])
    serving = Detector(MODELS / "shelfwatch-v1-int8.onnx", threads=1)
    candidate = Detector(MODELS / "shelfwatch-v11-int8.onnx", threads=1)
    report = process_batch(factory, store, {"accurate": serving, "fast": serving}, [str(j) for j in sub.job_ids],
                           canaries={"accurate": (candidate, 0.5)})
    with factory() as session:
        versions = dict(session.execute(select(Result.job_id, Result.model_version)
                                        .where(Result.job_id.in_(sub.job_ids))).all())
        jobs = dict(session.execute(select(Job.id, Job.model_version).where(Job.id.in_(sub.job_ids))).all())
    expected = {j: candidate.version if in_canary(j, 0.5) else serving.version for j in sub.job_ids}
    assert versions == expected == jobs
    assert set(expected.values()) == {candidate.version, serving.version}  # both models took jobs
    assert {(m, v) for m, v, _ in report.found} == {("accurate", v) for v in expected.values()}


def test_canary_commands_and_the_api(cli_env, monkeypatch, spec, api_key, settings, capsys):
    import pytest

    from ops.cli import main
    from shared.model_store import ModelStore
    from shared.settings import get_settings

    bucket = f"models-{uuid.uuid4().hex[:8]}"  # a registry of its own: the session's workers read the other one
    monkeypatch.setenv("MODELS_BUCKET", bucket)
    get_settings.cache_clear()
    store = ModelStore(get_settings())
    store.store.ensure_bucket()
    registry = json.loads((MODELS / "registry.json").read_text())
    registry["modes"] = {m: {"model": "shelfwatch-v1-int8.onnx"} for m in ("fast", "accurate")}
    store.write_registry(registry)

    assert main(["models", "canary", "shelfwatch-v11-int8", "--mode", "accurate", "--fraction", "0.2"]) == 0
    assert "takes 20% of new jobs" in capsys.readouterr().out
    assert ModelStore(get_settings()).registry()["modes"]["accurate"]["canary"] == {
        "model": "shelfwatch-v11-int8.onnx", "fraction": 0.2}
    from tests.conftest import make_app

    seen = make_app(settings.model_copy(update={"models_bucket": bucket}), spec).test_client()
    modes = seen.get("/v1/models", headers=auth(api_key)).get_json()["modes"]
    assert modes["accurate"]["canary"] == {"version": "shelfwatch-v11-int8", "fraction": 0.2}
    assert modes["fast"]["canary"] is None
    with pytest.raises(SystemExit, match="not in the registry"):
        main(["models", "canary", "nope-v0", "--mode", "accurate"])

    assert main(["models", "promote-canary", "--mode", "accurate"]) == 0
    promoted = ModelStore(get_settings()).registry()
    assert promoted["modes"]["accurate"] == {"model": "shelfwatch-v11-int8.onnx"}
    assert promoted["history"][-1]["how"] == "canary promoted"
    assert main(["models", "canary", "shelfwatch-v1-int8", "--mode", "fast", "--fraction", "0.5"]) == 0
    assert main(["models", "canary", "--mode", "fast", "--fraction", "0"]) == 0  # ended
    assert "canary" not in ModelStore(get_settings()).registry()["modes"]["fast"]
