"""A small HTTP client of the public API, used by `shelfwatch submit` and the demo."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import requests


def submit(api: str, key: str, store: str, photos: list[Path], idempotency_key: str | None = None) -> dict:
    files = [("photos", (p.name, p.read_bytes(), "application/octet-stream")) for p in photos]
    r = requests.post(f"{api}/v1/audits", files=files, data={"store_id": store},
                      headers={"Authorization": f"Bearer {key}",
                               "Idempotency-Key": idempotency_key or str(uuid.uuid4())}, timeout=60)
    if r.status_code not in (200, 202):
        raise RuntimeError(f"submit failed: HTTP {r.status_code} {r.text}")
    return r.json()


def wait(api: str, key: str, audit_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(f"{api}/v1/audits/{audit_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        r.raise_for_status()
        audit = r.json()
        if audit["status"] not in ("queued", "running"):
            return audit
        if time.monotonic() > deadline:
            raise TimeoutError(f"audit {audit_id} still {audit['status']} after {timeout:.0f} s")
        time.sleep(0.2)


def submit_and_wait(api: str, key: str, store: str, photos: list[Path], timeout: float = 120) -> dict:
    sub = submit(api, key, store, photos)
    audit = wait(api, key, sub["audit_id"], timeout)
    for job, path in zip(audit["jobs"], photos, strict=True):
        job["path"] = str(path)
        job["annotated_url"] = f"{api}/v1/jobs/{job['id']}/annotated.jpg"
    return audit


def table(audit: dict) -> str:
    classes = sorted({c for j in audit["jobs"] for c in j.get("counts", {})}) or ["product"]
    head = f"{'photo':<28} {'status':<7} " + " ".join(f"{c:>8}" for c in classes) + "  annotated result"
    lines = [head, "-" * len(head)]
    for j in audit["jobs"]:
        counts = " ".join(f"{j.get('counts', {}).get(c, 0):>8}" for c in classes)
        lines.append(f"{Path(j.get('path', j['id'])).name:<28} {j['status']:<7} {counts}  {j.get('annotated_url', '')}")
        if j["status"] == "failed":
            lines.append(f"{'':<28} reason: {j['failure']['reason']}")
    totals = " ".join(f"{audit['counts'].get(c, 0):>8}" for c in classes)
    lines.append(f"{'total':<28} {audit['status']:<7} {totals}")
    return "\n".join(lines)
