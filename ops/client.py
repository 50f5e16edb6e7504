"""The one HTTP client of the public API: `shelfwatch submit`, the demo and the load generator.

One ``requests.Session`` per thread (a session is not thread-safe), so a load generator
can share one ``Client`` between its sender threads. Errors come back as ``ApiError``
carrying the problem+json body the gateway sent.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

PENDING = ("queued", "running")


class ApiError(RuntimeError):
    def __init__(self, status: int, problem: dict):
        self.status, self.problem = status, problem
        super().__init__(f"HTTP {status} {problem.get('code', '')}: {problem.get('detail', problem)}")


class Client:
    def __init__(self, base: str, key: str, timeout: float = 60):
        self.base, self.timeout = base.rstrip("/"), timeout
        self.headers = {"Authorization": f"Bearer {key}"}
        self._local = threading.local()

    @property
    def http(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def post_audit(self, photos: list[tuple[str, bytes]], store_id: str, *, aisle: str | None = None,
                   mode: str | None = None, captured_at: str | None = None,
                   idempotency_key: str | None = None) -> requests.Response:
        """``POST /v1/audits`` as it is; the caller reads the status (load generators time it)."""
        form = {"store_id": store_id, "aisle": aisle, "mode": mode, "captured_at": captured_at}
        return self.http.post(
            f"{self.base}/v1/audits",
            files=[("photos", (name, data, "application/octet-stream")) for name, data in photos],
            data={k: v for k, v in form.items() if v is not None},
            headers={**self.headers, "Idempotency-Key": idempotency_key or str(uuid.uuid4())},
            timeout=self.timeout)

    def upload_audit(self, photos: list[tuple[str, bytes]], store_id: str, *, aisle: str | None = None,
                     mode: str | None = None, captured_at: str | None = None,
                     idempotency_key: str | None = None) -> requests.Response:
        """A direct upload: ``POST /v1/uploads``, each photo PUT to its presigned URL, then confirm.

        Returns the confirm's response (202 and the audit, as ``post_audit``'s), or the first
        answer that was not a success.
        """
        types = {b"\xff\xd8": "image/jpeg", b"\x89P": "image/png", b"RI": "image/webp"}
        body = {"store_id": store_id, "aisle": aisle, "mode": mode, "captured_at": captured_at,
                "photos": [{"content_type": types.get(data[:2], "application/octet-stream"), "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()} for _, data in photos]}
        begun = self.http.post(f"{self.base}/v1/uploads", json={k: v for k, v in body.items() if v is not None},
                               headers={**self.headers, "Idempotency-Key": idempotency_key or str(uuid.uuid4())},
                               timeout=self.timeout)
        if begun.status_code not in (200, 201):
            return begun
        started = begun.json()
        for target in started["uploads"]:
            put = self.http.request(target["method"], target["url"], data=photos[target["position"]][1],
                                    headers=target["headers"], timeout=self.timeout)
            if put.status_code not in (200, 201, 204):
                return put
        return self.http.post(started["confirm_url"], headers=self.headers, timeout=self.timeout)

    def submit(self, photos: list[Path], store_id: str, direct: bool = False, **form: Any) -> dict:
        """Send an audit: multipart through the gateway, or (``direct``) straight to S3."""
        send = self.upload_audit if direct else self.post_audit
        return self._json(send([(p.name, p.read_bytes()) for p in photos], store_id, **form))

    def get(self, path: str, **params: Any) -> dict:
        r = self.http.get(f"{self.base}{path}", headers=self.headers, timeout=self.timeout,
                          params={k: v for k, v in params.items() if v is not None})
        return self._json(r)

    def post(self, path: str, body: dict) -> dict:
        r = self.http.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=self.timeout)
        return self._json(r)

    def audit(self, audit_id: str) -> dict:
        return self.get(f"/v1/audits/{audit_id}")

    def job(self, job_id: str) -> dict:
        return self.get(f"/v1/jobs/{job_id}")

    def wait_audit(self, audit_id: str, timeout: float = 120, poll_s: float = 0.2,
                   on_progress: Callable[[dict], None] | None = None) -> dict:
        """Poll until the audit leaves queued/running; ``on_progress`` sees every poll."""
        deadline = time.monotonic() + timeout
        while True:
            audit = self.audit(audit_id)
            if on_progress:
                on_progress(audit)
            if audit["status"] not in PENDING:
                return audit
            if time.monotonic() > deadline:
                raise TimeoutError(f"audit {audit_id} still {audit['status']} after {timeout:.0f} s")
            time.sleep(poll_s)

    @staticmethod
    def _json(r: requests.Response) -> dict:
        try:
            body = r.json()
        except ValueError:
            body = {"detail": r.text[:300]}
        if r.status_code >= 400:
            raise ApiError(r.status_code, body)
        return body


# --- showing results ------------------------------------------------------------------

def print_progress(audit: dict) -> None:
    """One line, rewritten in place: photos done / failed / still waiting."""
    p = audit.get("progress") or {}
    line = (f"\raudit {audit['id'][:8]} {audit['status']:<8} done {p.get('done', 0)}, failed "
            f"{p.get('failed', 0)}, queued or running {p.get('pending', 0)} of {p.get('total', 0)}")
    end = "\n" if audit["status"] not in PENDING else ""
    print(line, end=end, file=sys.stderr, flush=True)


def audit_table(audit: dict, base: str = "") -> str:
    classes = sorted({c for j in audit["jobs"] for c in j.get("counts", {})}) or ["product"]
    head = f"{'photo':<28} {'status':<7} " + " ".join(f"{c:>8}" for c in classes) + "  annotated result"
    lines = [head, "-" * len(head)]
    for j in audit["jobs"]:
        counts = " ".join(f"{j.get('counts', {}).get(c, 0):>8}" for c in classes)
        link = f"{base}/v1/jobs/{j['id']}/annotated.jpg" if j["status"] == "done" else ""
        lines.append(f"{Path(j.get('path', j['id'])).name:<28} {j['status']:<7} {counts}  {link}")
        if j["status"] == "failed":
            lines.append(f"{'':<28} reason: {j['failure']['reason']}")
    totals = " ".join(f"{audit['counts'].get(c, 0):>8}" for c in classes)
    lines.append(f"{'total':<28} {audit['status']:<7} {totals}")
    return "\n".join(lines)


def to_json(doc: dict) -> str:
    return json.dumps(doc, indent=2)
