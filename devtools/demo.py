"""`shelfwatch-dev demo`: the whole farm on real local services and the bundled sample photos.

Brings up (or finds) Postgres, Redis and the S3-API server (``stack.bring_up``), creates
a demo API key, starts the gateway, an inference worker, a webhook worker and beat as
child processes, registers a webhook to a receiver of its own (``devtools.listen``),
creates a store with one section (aisle 1, with stock levels), submits ``samples/*.jpg``
through the HTTP API, prints per-photo counts, annotated-result URLs, the verified
``audit.completed`` event and its delivery log, then keeps serving until Ctrl-C (or exits
with ``--once``). The web pages are at ``/app/``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from devtools import procs, prometheus, stack
from devtools.listen import Listener, print_event
from ops.client import ApiError, Client, audit_table, print_progress


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(once: bool, port: int, samples: Path = Path("samples"), load: int = 0) -> int:
    # SIGTERM (a supervisor, `kill`) stops the farm as Ctrl-C does: children included
    signal.signal(signal.SIGTERM, _interrupt)
    local = stack.bring_up()
    stack.write_env(local)
    key = local.create_key("demo")
    print(f"stack: postgres {local.database_url}, redis {local.redis_url}, s3 {local.s3_endpoint_url}")
    print(f"API key for tenant 'demo' (scopes submit, read, admin): {key}")

    port = port if stack.port_is_free(port) else stack.free_port()
    api = f"http://127.0.0.1:{port}"
    env = {**os.environ, **local.env(), "LOG_FORMAT": "text"}  # a person reads these logs
    logs = stack.STATE_DIR
    metrics = {"audits": stack.free_port(), "rescans": stack.free_port(), "webhooks": stack.free_port()}
    children = [procs.spawn(["api", "--port", str(port)], env, logs / "api.log"),
                procs.spawn(["worker", "--metrics-port", str(metrics["audits"])], env, logs / "worker.log"),
                # one process: `shelfwatch rescan start` works on the demo without taking the audits' CPU
                procs.spawn(["worker", "--queues", "rescans", "--concurrency", "1",
                             "--metrics-port", str(metrics["rescans"])], env, logs / "rescans.log"),
                procs.spawn(["worker", "--queues", "webhooks", "--pool", "threads", "--concurrency", "4",
                             "--metrics-port", str(metrics["webhooks"])], env, logs / "webhooks.log"),
                procs.spawn(["beat"], env, logs / "beat.log")]
    if prometheus.available():  # Debian's package: scrape the gateway and the three pools, rules loaded
        prom, prom_url = prometheus.start(logs / "prometheus", {
            "shelfwatch-api": [f"127.0.0.1:{port}"],
            "shelfwatch-worker": [f"127.0.0.1:{p}" for p in metrics.values()]})
        children.append(prom)
        print(f"Prometheus at {prom_url} (scraping every 2 s, alert rules loaded)")
    listener = Listener(secret="", on_event=lambda *_: None).start()  # shown after the table, not amid it
    try:
        procs.wait_ready(api, children)
        photos = sorted(samples.glob("*.jpg"))
        print(f"submitting {len(photos)} sample photos to {api} …")
        t0 = time.perf_counter()
        client = Client(api, key)
        hook = client.post("/v1/webhooks", {"url": listener.url, "events": ["*"], "description": "demo receiver"})
        listener.secret = hook["secret"]
        print(f"webhook {hook['id'][:8]} → {listener.url} (the demo's own receiver)")
        ensure_store(client)
        sub = client.submit(photos, store_id="demo-store", aisle="1")
        audit = client.wait_audit(sub["audit_id"], timeout=300, on_progress=print_progress)
        for job, path in zip(audit["jobs"], photos, strict=True):
            job["path"] = str(path)
        print(audit_table(audit, api))
        print(f"audit {audit['id']} {audit['status']} in {time.perf_counter() - t0:.1f} s "
              f"(model {audit['jobs'][0].get('model_version')})")
        show_delivery(client, hook["id"], listener)
        for i in range(load):  # more audits, one a second, to watch the graphs move
            client.submit([photos[i % len(photos)]], store_id="demo-load")
            time.sleep(1.0)
        if once:
            return 0 if audit["status"] == "done" else 1
        print(f"\nserving at {api} (logs in {logs}/); web pages at {api}/app/ (paste the key above); "
              f"API docs at {api}/docs; try:\n"
              f"  curl -H 'Authorization: Bearer {key}' {api}/v1/audits/{audit['id']}\n"
              "Ctrl-C stops the gateway and the worker.")
        try:
            while all(p.poll() is None for p in children):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        listener.stop()
        procs.stop_gateway(children[0])
        procs.stop_all(children[1:])


def ensure_store(client: Client) -> None:
    """The demo's store and its aisle 1 with stock levels, so the store dashboard has a status."""
    for path, body in (("/v1/stores", {"id": "demo-store", "name": "Demo store"}),
                       ("/v1/stores/demo-store/sections", {"aisle": "1", "name": "Cereals", "critical": 100,
                                                          "target": 300})):
        try:
            client.post(path, body)
        except ApiError as exc:
            if exc.status != 409:  # made by an earlier demo on this database
                raise


def show_delivery(client: Client, webhook_id: str, listener: Listener, timeout: float = 15) -> None:
    """Wait for the receiver's verified event, then print the delivery log the API keeps."""
    deadline = time.monotonic() + timeout
    while not listener.events and time.monotonic() < deadline:
        time.sleep(0.1)
    if not listener.events:
        print(f"no webhook event arrived within {timeout:.0f} s (see .shelfwatch/webhooks.log)")
        return
    for event in listener.events:
        print_event(event, verified=True)  # the listener keeps only events whose signature verified
    while time.monotonic() < deadline:  # the worker logs the attempt once the receiver has answered
        items = client.get(f"/v1/webhooks/{webhook_id}/deliveries")["items"]
        if items and all(d["status"] != "pending" for d in items):
            break
        time.sleep(0.1)
    for d in client.get(f"/v1/webhooks/{webhook_id}/deliveries")["items"]:
        tries = ", ".join(f"HTTP {a['status_code']} in {a['latency_ms']:.0f} ms" for a in d["log"])
        print(f"delivery {d['id'][:8]} of event {d['event_id'][:8]}: {d['status']} after {d['attempts']} "
              f"attempt(s) ({tries})")
