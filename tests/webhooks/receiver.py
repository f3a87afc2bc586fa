"""A webhook subscriber on a loopback port: verifies each signature and records what arrives.

It stands in for the outside party (a shop, an ERP), so it is the one thing these tests fake."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from domain.signing import SIGNATURE_HEADER, BadSignature, verify


@dataclass
class Received:
    event: dict[str, Any]
    headers: dict[str, str]
    signed_at: int


@dataclass
class Receiver:
    secret: str = ""
    # The status code to answer the n-th request (1-based) with; 200 by default.
    answer: Callable[[int], int] = lambda _n: 200
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # bad signatures
    requests: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            self.requests += 1
            status = self.answer(self.requests)
            try:
                signed_at = verify(self.secret, headers.get(SIGNATURE_HEADER.lower()), body, time.time())
            except BadSignature as err:
                self.refused.append(str(err))
                return 400
            if 200 <= status < 300:
                self.received.append(Received(json.loads(body), headers, signed_at))
            return status

    def events_of(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r.event for r in self.received if r.event["data"].get("order_id") == order_id]


@contextmanager
def serving(receiver: Receiver, port: int = 0) -> Iterator[Receiver]:
    """Serve `receiver` on 127.0.0.1 (a given port, to come back where it was) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.handle(body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
