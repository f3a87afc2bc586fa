"""A small external WMS, TMS and ERP in one process, following docs/integrations.md, for tests.

Run as its own process (standard library only):

    python tests/fakes/external_system.py --port 0 --port-file PATH [--token SECRET]

Partner routes: POST /wms/pick-lists, /wms/pick-lists/{id}/cancel, /tms/shipments, /erp/invoices,
/erp/credit-notes (system `erp-credit` in the test controls).
Each honours `Idempotency-Key`: the same key answers the first result again (200) instead of making a
second record; a rejected call does not consume its key. With --token, a call without
`Authorization: Bearer SECRET` gets 401.

Test controls (data-driven, per order so tests do not disturb each other):
- POST /_script {"order_id", "system", "delay_first": n, "delay_s": s, "reject_first": n, "status",
  "code", "message", "fail_first": n}: the first n calls for that order and system are answered late
  (the record is made, the answer comes after delay_s seconds), rejected with status/code/message,
  or answered 503;
- POST /_outage {"system", "down": true|false}: while down, every call to that system is answered 503
  (the whole system is out, as a carrier down for a stretch);
- POST /_reject_address {"line1", "code", "message"}: the TMS refuses (422 with that code) every shipment
  to an address with that first line, whichever order it is for, until the order's address changes;
- GET /_calls?system=&order_id=: every call received, in order;
- GET /_records?system=: what the system made, by idempotency key.
"""

import argparse
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROUTES = {
    "/wms/pick-lists": "wms",
    "/tms/shipments": "tms",
    "/erp/invoices": "erp",
    "/erp/credit-notes": "erp-credit",
}
CANCEL_PICK_LIST = re.compile(r"^/wms/pick-lists/([^/]+)/cancel$")
REQUIRED = {
    "wms": ("pick_list_id", "order_id", "warehouse", "lines"),
    "wms-cancel": ("pick_list_id", "order_id", "reason"),
    "tms": ("shipment_id", "order_id", "pick_list_id", "ship_to", "lines"),
    "erp": ("invoice_key", "order_id", "amount", "currency", "lines"),
    "erp-credit": ("credit_note_key", "return_id", "order_id", "amount", "currency", "lines"),
}


# Numbers are unique across runs of the fake too, as a real system's are: tests that share a database may
# meet a restarted fake, and our shipments and invoices keep those numbers unique.
RUN = uuid.uuid4().hex[:6].upper()


class State:
    def __init__(self, token: str | None) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.records: dict[str, dict[str, dict[str, Any]]] = {system: {} for system in REQUIRED}
        self.requests: dict[tuple[str, str], Any] = {}  # the body each record was made from
        self.scripts: dict[tuple[str, str], dict[str, Any]] = {}
        self.seen: dict[tuple[str, str], int] = {}
        self.down: set[str] = set()
        self.bad_lines: dict[str, dict[str, Any]] = {}

    def make(self, system: str, body: dict[str, Any]) -> dict[str, Any]:
        n = len(self.records[system]) + 1
        if system == "wms":
            return {"reference": f"WMS-{RUN}-{n:06d}", "status": "queued"}
        if system == "wms-cancel":
            return {"pick_list_id": body["pick_list_id"], "cancelled": True}
        if system == "tms":
            return {"carrier": "fake-express", "tracking_number": f"FX{RUN}{n:06d}"}
        if system == "erp-credit":
            return {"number": f"ECN-{RUN}-{n:06d}", "issued": True}
        return {"number": f"ERP-{RUN}-{n:06d}", "issued": True}


class Handler(BaseHTTPRequestHandler):
    state: State
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            sys.stderr.write("client left before the answer\n")  # it timed out: expected in delay tests

    def _problem(self, status: int, code: str, detail: str) -> None:
        self._send(status, {"type": code, "code": code, "title": code.replace("_", " "), "detail": detail})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        state = self.state
        with state.lock:
            if url.path == "/_calls":
                calls = [
                    c
                    for c in state.calls
                    if all(c.get(k) == query[k] for k in ("system", "order_id", "idempotency_key") if k in query)
                ]
                return self._send(200, calls)
            if url.path == "/_records":
                return self._send(200, state.records.get(query.get("system", ""), {}))
        self._problem(404, "not_found", url.path)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        try:
            body = self._body()
        except ValueError:
            return self._problem(400, "bad_json", "the body is not JSON")
        if url.path == "/_script":
            with self.state.lock:
                self.state.scripts[(body["system"], body["order_id"])] = body
            return self._send(200, body)
        if url.path == "/_reject_address":
            with self.state.lock:
                self.state.bad_lines[body["line1"]] = body
            return self._send(200, body)
        if url.path == "/_outage":
            with self.state.lock:
                (self.state.down.add if body.get("down") else self.state.down.discard)(body["system"])
            return self._send(200, body)
        system = ROUTES.get(url.path)
        cancel = CANCEL_PICK_LIST.match(url.path)
        if cancel is not None:
            system = "wms-cancel"
            with self.state.lock:
                known = unquote(cancel.group(1)) in self.state.records["wms"]
            if not known:
                return self._problem(404, "unknown_pick_list", f"no pick list {unquote(cancel.group(1))}")
        if system is None:
            return self._problem(404, "not_found", url.path)
        self._partner_call(system, body)

    def _partner_call(self, system: str, body: Any) -> None:
        state = self.state
        key = self.headers.get("Idempotency-Key", "")
        order_id = body.get("order_id", "") if isinstance(body, dict) else ""
        authorized = state.token is None or self.headers.get("Authorization") == f"Bearer {state.token}"
        with state.lock:
            down = system.split("-")[0] in state.down
        if down:  # an outage answers before anything is counted: scripts apply once the system is back
            return self._problem(503, "unavailable", f"{system} is down")
        with state.lock:
            state.calls.append(
                {"system": system, "order_id": order_id, "idempotency_key": key, "body": body, "at": time.time()}
            )
            n = state.seen[(system, order_id)] = state.seen.get((system, order_id), 0) + 1
            script = state.scripts.get((system, order_id), {})
        if not authorized:
            return self._problem(401, "unauthorized", "a valid bearer token is required")
        if not key:
            return self._problem(400, "idempotency_key_missing", "Idempotency-Key header is required")
        missing = [f for f in REQUIRED[system] if not isinstance(body, dict) or f not in body]
        if missing:
            return self._problem(400, "invalid_request", f"missing {', '.join(missing)}")
        ship_to = body.get("ship_to") if system == "tms" else None
        with state.lock:
            bad = state.bad_lines.get(ship_to.get("line1", "")) if isinstance(ship_to, dict) else None
        if bad is not None:
            return self._problem(422, bad.get("code", "address_rejected"), bad.get("message", "unknown address"))
        if n <= script.get("reject_first", 0):
            return self._problem(script.get("status", 422), script.get("code", "rejected"), script.get("message", ""))
        if n <= script.get("fail_first", 0):
            return self._problem(503, "unavailable", "down for maintenance")
        with state.lock:
            existing = state.records[system].get(key)
            if existing is not None and state.requests[(system, key)] != body:
                return self._problem(422, "idempotency_key_reused", f"{key} was used with a different request")
            if existing is None:
                existing = state.records[system][key] = state.make(system, body)
                state.requests[(system, key)] = body
                status = 201
            else:
                status = 200
        if n <= script.get("delay_first", 0):
            time.sleep(script.get("delay_s", 5))  # the record is made; the answer comes too late
        self._send(status, existing)


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake external WMS, TMS and ERP for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--token")
    args = parser.parse_args()
    Handler.state = State(args.token)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    print(f"fake external system on http://{args.host}:{port}", flush=True)
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(args.port_file)  # the reader never sees half a number
    server.serve_forever()


if __name__ == "__main__":
    main()
