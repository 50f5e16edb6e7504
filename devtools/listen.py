"""``shelfwatch-dev webhooks listen``: a small webhook receiver that verifies and prints events.

    shelfwatch-dev webhooks listen --port 8099 --secret whsec_…

Register ``http://127.0.0.1:8099/`` as a webhook (the local stack allows loopback URLs)
and watch the flow on one machine. Each event is printed with whether its signature
verifies; the receiver answers 200 to valid ones and 400 to the rest. The demo runs one
in-process to show its event.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from shared.webhooks import SIGNATURE_HEADER, verify_signature


class Listener:
    def __init__(self, secret: str, port: int = 0, on_event: Callable[[dict, bool], None] | None = None):
        self.secret, self.on_event = secret, on_event or print_event
        self.events: list[dict] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = verify_signature(listener.secret, self.headers.get(SIGNATURE_HEADER, ""), body)
                try:
                    event = json.loads(body)
                except ValueError:
                    event = {"unparsable": body[:200].decode("utf-8", "replace")}
                if ok:
                    listener.events.append(event)
                listener.on_event(event, ok)
                self.send_response(200 if ok else 400)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def start(self) -> Listener:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def print_event(event: dict, verified: bool) -> None:
    mark = "signature ok" if verified else "SIGNATURE INVALID"
    audit = (event.get("data") or {}).get("audit") or {}
    summary = f"audit {audit.get('id', '')[:8]} {audit.get('status')} counts {audit.get('counts')}" if audit else ""
    print(f"webhook {event.get('type')} {event.get('id')} ({mark}) {summary}", flush=True)


def listen(port: int, secret: str) -> int:
    listener = Listener(secret, port)
    print(f"listening on {listener.url}; Ctrl-C stops", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        listener.server.serve_forever()
    return 0
