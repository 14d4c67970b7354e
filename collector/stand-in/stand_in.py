"""A stand-in for the Stripe and PayPal APIs in the local stack: canned JSON, no state.

Answers the calls the academy makes (health checks and payments) and logs each request
(method, path, whether credentials came with it; never their value) to stdout, so
`docker compose logs stand-in` shows the traffic, including Alertmanager's webhook posts.
FAIL_RATE (0..1, default 0) answers that fraction of API calls with 503, to open the
academy's circuit breakers; `POST /__fail?rate=0.5` changes it while running.
Standard library only: runs on any python3 image.
"""

import json
import os
import random
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))


def canned(method, path):
    """The JSON body for an API call, or None for a 404."""
    if method == "GET" and path == "/v1/balance":
        return {"object": "balance", "livemode": False,
                "available": [{"amount": 0, "currency": "usd"}], "pending": []}
    if method == "POST" and path in ("/v1/payment_intents", "/v1/charges"):
        kind = "payment_intent" if path.endswith("intents") else "charge"
        return {"id": f"pi_{uuid.uuid4().hex[:24]}", "object": kind, "status": "succeeded",
                "livemode": False}
    if method == "POST" and path == "/v1/oauth2/token":
        return {"access_token": f"A21AA{uuid.uuid4().hex}", "token_type": "Bearer",
                "expires_in": 32400, "scope": "https://uri.paypal.com/services/payments"}
    if method == "POST" and path == "/v2/checkout/orders":
        return {"id": uuid.uuid4().hex[:17].upper(), "status": "CREATED"}
    if method == "POST" and path.startswith("/v2/checkout/orders/") and path.endswith("/capture"):
        return {"id": path.split("/")[4], "status": "COMPLETED"}
    if method == "POST" and path == "/alertmanager/webhook":
        return {"received": True}
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "stand-in/1"

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        global FAIL_RATE
        url = urlparse(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/healthz":
            return self._answer(200, {"status": "ok"})
        if method == "POST" and url.path == "/__fail":
            FAIL_RATE = float(parse_qs(url.query).get("rate", ["0"])[0])
            return self._answer(200, {"fail_rate": FAIL_RATE})
        if url.path == "/alertmanager/webhook":
            alerts = json.loads(body or b"{}").get("alerts", [])
            names = [a.get("labels", {}).get("alertname", "?") + ":" + a.get("status", "?") for a in alerts]
            print(f"alertmanager webhook: {', '.join(names)}", flush=True)
        if url.path != "/alertmanager/webhook" and random.random() < FAIL_RATE:
            return self._answer(503, {"error": {"message": "stand-in failure (FAIL_RATE)"}})
        reply = canned(method, url.path)
        if reply is None:
            return self._answer(404, {"error": {"message": f"no canned answer for {method} {url.path}"}})
        return self._answer(200, reply)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def log_message(self, fmt, *args):
        # Whether credentials came, never what they were.
        auth = "with credentials" if self.headers.get("authorization") else "anonymous"
        trace = "traced" if self.headers.get("traceparent") else "untraced"
        sys.stdout.write(f"{self.command} {urlparse(self.path).path} {args[1]} {auth} {trace}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "12111"))
    print(f"stand-in listening on :{port}, FAIL_RATE={FAIL_RATE}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
