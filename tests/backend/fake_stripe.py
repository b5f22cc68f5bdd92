"""A stand-in for api.stripe.com on 127.0.0.1: records requests, keeps PaymentIntents in memory.

Stripe is outside the project, so faking its HTTP API is fair; the `stripe` package under it
is the real one, so the requests it records are what production would send.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class FakeStripe:
    def __init__(self):
        self.requests: list[dict] = []
        self.intents: dict[str, dict] = {}
        self.fail_next: tuple[int, dict] | None = None
        self.fail_path = ""  # fail_next applies to the next request whose path contains this
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(n).decode())) if n else {}
                fake.requests.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers), "form": form})
                if fake.fail_next and fake.fail_path in self.path:
                    status, err = fake.fail_next
                    fake.fail_next = None
                    return self._answer(status, {"error": err})
                status, body = fake.route(self.command, self.path.split("?")[0], form)
                self._answer(status, body)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, method: str, path: str, form: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if parts[:2] != ["v1", "payment_intents"]:
            return 404, {"error": {"type": "invalid_request_error", "message": "no route"}}
        if method == "POST" and len(parts) == 2:
            pid = f"pi_fake{len(self.intents) + 1}"
            self.intents[pid] = {
                "id": pid, "object": "payment_intent", "amount": int(form["amount"]),
                "currency": form["currency"], "capture_method": form.get("capture_method"),
                "status": "requires_payment_method", "client_secret": f"{pid}_secret_abc",
                "amount_received": 0, "last_payment_error": None,
            }
            return 200, self.intents[pid]
        pi = self.intents.get(parts[2])
        if pi is None:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                   "message": f"No such payment_intent: '{parts[2]}'"}}
        if method == "GET":
            return 200, pi
        if parts[3:] == ["capture"]:
            pi.update(status="succeeded", amount_received=int(form.get("amount_to_capture", pi["amount"])))
        elif parts[3:] == ["cancel"]:
            pi.update(status="canceled")
        return 200, pi

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
