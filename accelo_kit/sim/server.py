"""The HTTP face of the simulator: routing, the envelope, rate-limit headers, faults and the latency model.

Every response leaves in one `sendall` with TCP_NODELAY set: `http.server` otherwise writes headers and body
separately and Nagle plus delayed ACKs add ~40 ms to each keep-alive round trip.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import random
import socket
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import control, query
from .auth import scope_allows
from .errors import ApiError
from .faults import HOSTILE_BODIES
from .log import LogEntry
from .schema import LISTABLE, RESOURCES

if TYPE_CHECKING:
    from .backend import SimBackend

API = "/api/v0/"
TOKEN_PATH = "/oauth2/v0/token"
HTML_404 = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
TRUE = frozenset({"1", "true", "yes"})
PROXY_PAGE = "<html><head><title>{code}</title></head><body><h1>{code} {reason}</h1><p>nginx</p></body></html>"


class Answer:
    """A finished response, before the transport decides how (or whether) to send it."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json",
                 headers: dict[str, str] | None = None, rows: int | None = None, proxy: bool = False) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}
        self.rows = rows
        self.proxy = proxy  # an error page from a proxy in front of the API: no Accelo headers


def envelope(response: Any, status: str = "ok", message: str = "", http_status: int = 200) -> Answer:
    meta = {"status": status, "message": message, "more_info": "https://api.accelo.com/docs/"}
    body = json.dumps({"meta": meta, "response": response}, separators=(",", ":")).encode()
    return Answer(http_status, body)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, simulator: SimBackend, port: int) -> None:
        self.simulator = simulator
        self.stopping = threading.Event()
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request (a killed sync) is normal here, not worth a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def close_all_connections(self) -> None:
        """Keep-alive connections outlive `shutdown()`; end them so a stopped simulator really stops."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimServer
    server_version = "AcceloSimulator"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # the request log replaces stderr chatter
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # -- the one path every request takes ------------------------------------------------------------------
    def _handle(self) -> None:
        sim = self.server.simulator
        arrived = sim.clock()
        split = urlsplit(self.path)
        path = split.path
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        address = self.client_address[0]
        if path.startswith(control.PREFIX):
            try:
                reply = Answer(200, json.dumps(control.handle(sim, self.command, path, body)).encode())
            except ApiError as err:
                reply = envelope(None, err.meta_status, err.message, err.http_status)
            self._send(reply)
            return
        is_api = path.startswith(API)
        fault = sim.faults.draw(path)
        extra: dict[str, str] = {}
        counted, remaining = False, None
        answer: Answer | None = None

        if is_api:
            if fault == "429":
                decision = sim.rate.peek(arrived)
                extra = {**decision.headers(), "X-RateLimit-Remaining": "0"}
                answer = self._too_many(sim)
            else:
                decision = sim.rate.take(arrived)
                extra, counted = decision.headers(), decision.allowed
                if not decision.allowed:
                    answer = self._too_many(sim)
            remaining = int(extra["X-RateLimit-Remaining"])

        if answer is None and fault in {"stall", "drop"}:
            self._log(sim, arrived, path, params, 0, None, 0.0, 0.0, fault, counted, remaining, headers)
            self._abort(sim, fault)
            return
        if answer is None and fault == "revoke":
            sim.tokens.revoke_all()

        wait_s = service_s = 0.0
        if answer is None:
            answer, wait_s, service_s = self._serve(sim, path, params, body, headers, address, arrived, fault)
        if not answer.proxy:
            answer.headers.update(extra)
        if is_api and answer.content_type == "application/json" and params.get("_suppress_http_status") in TRUE:
            # Accelo's escape hatch, 429 included (an HTML proxy page keeps its status); the kit must never send
            # it, and the request log shows the params so a test can prove that
            answer.status = 200
        self._log(sim, arrived, path, params, answer.status, answer.rows, wait_s, service_s, fault, counted,
                  remaining, headers)
        self._send(answer, truncate=fault == "truncate")

    def _serve(self, sim: SimBackend, path: str, params: dict[str, str], body: bytes, headers: dict[str, str],
               address: str, arrived: float, fault: str | None) -> tuple[Answer, float, float]:
        """Hold a worker for the modelled service time; the wait for a free worker is measured apart."""
        queued = time.monotonic()
        with sim.workers:
            started = time.monotonic()
            answer = self._route(sim, path, params, body, headers, address, arrived, fault)
            modelled = sim.service_time(answer.rows or 0)
            left = modelled - (time.monotonic() - started)
            if left > 0:
                time.sleep(left)
            finished = time.monotonic()
        return answer, started - queued, finished - started

    def _route(self, sim: SimBackend, path: str, params: dict[str, str], body: bytes, headers: dict[str, str],
               address: str, arrived: float, fault: str | None) -> Answer:
        try:
            if path == TOKEN_PATH:
                return self._token(sim, body, headers, address, arrived)
            if not path.startswith(API):
                return self._unknown_path(sim, path)
            if "_method" in params:
                raise ApiError.invalid("_method is not supported by the simulator (it can turn a GET into a DELETE)")
            if self.command != "GET":
                raise ApiError.invalid(f"{self.command} is not supported by the simulator: it is read-only")
            token = sim.tokens.authenticate(headers, address, arrived)
            if fault == "not_ok":
                return envelope(None, "server_error", "simulated failure reported on HTTP 200")
            if fault in {"502", "503", "504"}:
                code = int(fault)
                page = PROXY_PAGE.format(code=code, reason=HTTPStatus(code).phrase).encode()
                return Answer(code, page, "text/html", proxy=True)
            if fault == "500":
                return envelope(None, "server_error", "simulated internal error", http_status=500)
            if fault == "garbage":
                return Answer(200, b"<html><body>Service temporarily unavailable</body></html>", "text/html")
            answer = self._api(sim, path[len(API):].strip("/"), params, token.scope)
            if fault in HOSTILE_BODIES and answer.status == 200:
                answer = hostile(fault, answer, sim.settings.huge_bytes, sim.settings.nested_depth)
        except ApiError as err:
            if path == TOKEN_PATH:
                body_ = json.dumps({"error": err.meta_status, "error_description": err.message}).encode()
                answer = Answer(err.http_status, body_)
            else:
                answer = envelope(None, err.meta_status, err.message, err.http_status)
            answer.headers.update(err.headers)
        return answer

    def _api(self, sim: SimBackend, rest: str, params: dict[str, str], scope: str) -> Answer:
        parts = rest.split("/") if rest else []
        if parts == ["tokeninfo"]:
            token_info = sim.token_info(self.headers.get("Authorization", ""))
            return envelope(token_info)
        if not parts or parts[0] not in LISTABLE or len(parts) > 2:
            return self._unknown_path(sim, API + rest)
        resource = parts[0]
        if not scope_allows(scope, resource):
            raise ApiError(403, "invalid_permission", f"the token's scope {scope} does not allow reading {resource}")
        variants = sim.settings
        spec = RESOURCES[resource]
        with sim.store.lock:
            table, order = sim.store.tables[resource], sim.store.order[resource]
            if len(parts) == 1:
                parsed = query.parse_list_query(resource, params, over_limit=variants.over_limit,
                                                unknown_field=variants.unknown_field)
                rows, _ = query.select(parsed, table, order)
                rendered = [sim.renderer.row(spec, row, parsed.projection) for row in rows]
                answer = envelope(rendered)
                answer.rows = len(rendered)
                return answer
            if parts[1] == "count":
                parsed = query.parse_list_query(resource, params, over_limit="cap", unknown_field="ignore",
                                                paged=False)
                total = query.count(parsed, table, order)
                return envelope({"count": total if variants.count_type == "number" else str(total)})
            if not parts[1].isdigit() or int(parts[1]) not in table:
                raise ApiError.invalid(f"no {resource} object with id {parts[1]!r}")
            projection = query.parse_fields(spec, params.get("_fields", ""), variants.unknown_field)
            return envelope(sim.renderer.row(spec, table[int(parts[1])], projection))

    def _token(self, sim: SimBackend, body: bytes, headers: dict[str, str], address: str, now: float) -> Answer:
        if self.command != "POST":
            raise ApiError.oauth(400, "invalid_request", "the token endpoint takes POST")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        payload = sim.tokens.issue(headers, form, address, now)
        return Answer(200, json.dumps(payload).encode())

    def _unknown_path(self, sim: SimBackend, path: str) -> Answer:
        if sim.settings.unknown_path == "html404":
            return Answer(404, HTML_404, "text/html")
        raise ApiError.invalid(f"unknown resource or path {path!r}")

    def _too_many(self, sim: SimBackend) -> Answer:
        host = f"{sim.settings.deployment}.api.accelo.com"
        return envelope(None, "too_many_requests", f"Rate limit exceeded for {host}", http_status=429)

    # -- transport -----------------------------------------------------------------------------------------
    def _send(self, answer: Answer, truncate: bool = False) -> None:
        sim = self.server.simulator
        reason = HTTPStatus(answer.status).phrase
        head = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Date: {email.utils.formatdate(sim.clock(), usegmt=True)}",
            f"Server: {self.server_version}",
            f"Content-Type: {answer.content_type}; charset=utf-8",
            f"Content-Length: {len(answer.body)}",
            *(f"{k}: {v}" for k, v in answer.headers.items()),
        ]
        body = answer.body
        if truncate:
            body = body[: len(body) // 2]
            self.close_connection = True
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _abort(self, sim: SimBackend, fault: str) -> None:
        """`drop`: reset the connection now. `stall`: say nothing for `stall_s`, then close."""
        self.close_connection = True
        if fault == "stall":
            self.server.stopping.wait(sim.settings.stall_s)
        else:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _log(self, sim: SimBackend, arrived: float, path: str, params: dict[str, str], status: int,
             rows: int | None, wait_s: float, service_s: float, fault: str | None, counted: bool,
             remaining: int | None, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        sim.log.add(LogEntry(
            started=arrived, method=self.command, path=path, params=params, status=status, rows=rows,
            wait_s=wait_s, service_s=service_s, fault=fault, client=self.client_address[0],
            remaining=remaining, counted=counted,
            token=hashlib.sha256(auth.encode()).hexdigest()[:8] if auth.lower().startswith("bearer ") else "",
        ))


# one of each kind a field must never arrive as: containers, binary floats (NaN too), booleans, numbers too big for
# 64 bits, digits from other scripts that Python's int() would accept, and 5,000 nines (int() refuses past 4,300)
WRONG_VALUES: tuple[Any, ...] = (["17"], {"id": ["17"]}, 1.5, True, 10**30, "\u0661\u0662\u0663", "\uff11\uff12",
                                 float("nan"), -(10**25), 2.0**70, False, {}, [], "9" * 5000)


def hostile(kind: str, answer: Answer, huge_bytes: int, nested_depth: int) -> Answer:
    """A good answer turned into a hostile body of `kind` (faults.HOSTILE_BODIES), still HTTP 200 and "ok"."""
    parsed = json.loads(answer.body)
    meta, response = parsed["meta"], parsed["response"]
    if kind == "nested":
        return Answer(200, b'{"meta":' + json.dumps(meta).encode() + b',"response":'
                      + b"[" * nested_depth + b"]" * nested_depth + b"}")
    if kind == "non_utf8":
        meta["message"] = "Caf\u00e9 Z\u00fcrich \u00a9"  # Latin-1 bytes E9, FC, A9: never valid UTF-8 here
        text = json.dumps({"meta": meta, "response": response}, ensure_ascii=False)
        return Answer(200, text.encode("latin-1", "replace"))
    if kind == "not_list":
        return envelope({str(row.get("id")): row for row in response} if isinstance(response, list) else "not a list")
    if kind == "wrong_types":
        rows = response if isinstance(response, list) else [response]
        for r, row in enumerate(rows):
            for f, name in enumerate(row):
                row[name] = WRONG_VALUES[(r + f) % len(WRONG_VALUES)]
        return envelope(response)
    # huge: the page's rows again and again (far more than `_limit`) until the body reaches huge_bytes
    rows = response if isinstance(response, list) and response else [response if response is not None else {}]
    sizes = [len(json.dumps(row, separators=(",", ":"))) + 1 for row in rows]
    repeated: list[Any] = []
    total = len(envelope([]).body)
    while total < huge_bytes:
        repeated.append(rows[len(repeated) % len(rows)])
        total += sizes[(len(repeated) - 1) % len(rows)]
    out = envelope(repeated or rows)
    out.rows = answer.rows
    return out


def jittered(rng: random.Random, base_s: float, jitter: float) -> float:
    return max(0.0, base_s * (1 + rng.uniform(-jitter, jitter))) if jitter else base_s
