"""docker-compose.yml, read as Docker would (Docker itself does not run here): every role of the
one image, each command one `shelfwatch` accepts, healthchecks, and a start order by health."""

from __future__ import annotations

import pytest
import yaml

from tests.paths import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ONE_SHOT = {"migrate", "create-bucket"}
ROLES = {"migrate": ["migrate"], "api": ["api"], "worker": ["worker", "--queues", "audits"],
         "worker-rescans": ["worker", "--queues", "rescans"], "worker-webhooks": ["worker", "--queues", "webhooks"],
         "beat": ["beat"]}


def ours(name: str) -> bool:
    return SERVICES[name].get("image") == "shelfwatch:dev"


def test_every_role_runs_from_the_one_image():
    assert {n for n in SERVICES if ours(n)} == set(ROLES) | {"create-bucket"}
    for name, start in ROLES.items():
        assert SERVICES[name]["command"][: len(start)] == start, name
    assert {"postgres", "redis", "s3", "prometheus", "grafana"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_command_is_one_the_shelfwatch_command_accepts(name):
    from ops.cli import build_parser

    build_parser().parse_args(SERVICES[name]["command"])  # exits (SystemExit) on anything it does not know


def test_one_pool_per_queue_and_the_webhook_pool_runs_threads():
    queues = {SERVICES[n]["command"][SERVICES[n]["command"].index("--queues") + 1]
              for n in SERVICES if ours(n) and "--queues" in SERVICES[n]["command"]}
    assert queues == {"audits", "rescans", "webhooks"}
    assert "threads" in SERVICES["worker-webhooks"]["command"]


def test_every_long_running_service_has_a_healthcheck_and_waits_for_healthy_dependencies():
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dep, condition in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert condition["condition"] == wanted, (name, dep)


def test_the_app_starts_after_the_schema_and_the_bucket():
    for name in ROLES.keys() - {"migrate"}:
        deps = SERVICES[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["create-bucket"]["condition"] == "service_completed_successfully", name


def test_state_outlives_the_containers():
    mounts = {name: [v.split(":")[0] for v in SERVICES[name].get("volumes", [])]
              for name in ("postgres", "redis", "s3")}
    assert all(mounts.values()), mounts
    assert set(COMPOSE["volumes"]) >= {m for ms in mounts.values() for m in ms}
    assert "--appendonly" in SERVICES["redis"]["command"]
    assert SERVICES["redis"]["command"][SERVICES["redis"]["command"].index("--appendonly") + 1] == "yes"


def test_the_roles_share_one_environment_and_the_pools_serve_metrics_where_prometheus_scrapes():
    envs = [SERVICES[n]["environment"] for n in SERVICES if ours(n)]
    assert all(e == envs[0] for e in envs)
    assert envs[0]["WORKER_METRICS_PORT"] == "9101"
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    worker_job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "shelfwatch-worker")
    sd = worker_job["dns_sd_configs"][0]
    assert set(sd["names"]) == {"worker", "worker-rescans", "worker-webhooks"}
    assert sd["port"] == 9101


def test_beats_healthcheck_fails_without_beat_and_passes_with_it(tmp_path):
    """Run the check itself: it must not find itself (its own command line mentions beat)."""
    import subprocess
    import sys
    import time

    cmd, python, flag, script = SERVICES["beat"]["healthcheck"]["test"]
    assert (cmd, python, flag) == ("CMD", "python", "-c")
    if subprocess.run([sys.executable, "-c", script], check=False).returncode == 0:
        pytest.skip("a `shelfwatch beat` runs on this machine already")
    fake = tmp_path / "shelfwatch"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    beat = subprocess.Popen([str(fake), "beat"])  # argv: /bin/sh .../shelfwatch beat, as the image runs it
    try:
        time.sleep(0.3)
        assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 0
    finally:
        beat.kill()
