"""The HTTP side of ``mixwise serve``: routes, API key, body limits, disconnects (see mixwise/evaluate/serve.py).

:class:`Handler` answers ``/v1/chat/completions``, ``/v1/models`` and ``/health``
for a :class:`~mixwise.evaluate.serve.ModelBackend`; every error is OpenAI's
JSON error object. Refusals that do not need the body (404, 401, 413 from
``Content-Length``) are answered before reading it; :class:`Server` turns
dropped connections into one log line instead of a traceback. Use it through
:func:`mixwise.evaluate.serve.make_server`.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import select
import socket
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mixwise.evaluate.serve_batch import Job, QueueFull
from mixwise.evaluate.serve_request import RequestError

if TYPE_CHECKING:
    from mixwise.evaluate.serve import ModelBackend

log = logging.getLogger("mixwise.serve")

DEFAULT_MAX_REQUEST_BYTES = 2 * 1024 * 1024  # ~500k tokens of text: above any context served here
DRAIN_BYTES = 64 * 1024 * 1024  # after refusing a body, read (and drop) this much so the client sees the answer
POLL_S = 0.1  # how often a waiting handler checks whether its client is still there
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")


class Handler(BaseHTTPRequestHandler):
    """Routes for /v1/models, /v1/chat/completions and /health; errors in OpenAI's JSON error shape."""

    backend: ModelBackend  # these three are set on a subclass by make_server
    api_key: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    protocol_version = "HTTP/1.1"
    server_version = "mixwise-serve"
    timeout = 60  # seconds a client may stall mid-request; also how long an idle keep-alive connection stays

    def log_message(self, fmt: str, *args) -> None:  # quiet: only disconnects and failures are logged
        pass

    def _who(self) -> str:
        return f"{self.client_address[0]}:{self.client_address[1]}"

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError as e:  # the client left before its answer: one line, no traceback
            self.close_connection = True
            log.info("%s: client went away before its %d answer was sent (%s)", self._who(), status, type(e).__name__)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
               headers: dict | None = None) -> None:
        self._send(status, RequestError(message, code=code, kind=kind).payload(), headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, huge headers, unknown method) as JSON too."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # an unparsable request line: answer with a status line anyway
            self.request_version = "HTTP/1.0"
        text = message or HTTPStatus(code).phrase
        self._error(code, text, "invalid_request_error" if code < 500 else "server_error")

    # --- before the body: route, key, size -------------------------------------------------------

    def _route(self) -> str:
        return urlsplit(self.path).path.rstrip("/") or "/"

    def _authorized(self) -> bool:
        if not self.api_key:
            return True
        scheme, _, token = (self.headers.get("Authorization") or "").strip().partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.api_key.encode())

    def _refuse_unauthorized(self) -> None:
        self._refuse(401, "missing or wrong API key: send 'Authorization: Bearer KEY' with the key given to "
                          "mixwise serve --api-key (or $MIXWISE_SERVE_API_KEY)", code="invalid_api_key",
                     headers={"WWW-Authenticate": "Bearer"})

    def _length(self) -> int | str | None:
        """The body's length from the headers: an int, "chunked", or None after answering a bad header."""
        te, cl = self.headers.get("Transfer-Encoding"), self.headers.get_all("Content-Length") or []
        if te is not None:
            if te.strip().lower() != "chunked" or cl:  # both headers at once is how requests get smuggled
                self._refuse(400, f"unsupported Transfer-Encoding {te!r}" + (" with Content-Length" if cl else "")
                             + "; send a Content-Length or 'Transfer-Encoding: chunked' alone", drain=False)
                return None
            return "chunked"
        if not cl:
            return 0  # HTTP/1.1: no Content-Length and no Transfer-Encoding means no body
        if len(set(cl)) > 1 or not re.fullmatch(r"[0-9]{1,19}", cl[0].strip()):
            self._refuse(400, f"invalid Content-Length {', '.join(cl)[:40]!r}; send the body's size in bytes", drain=False)
            return None
        n = int(cl[0])
        if n > self.max_request_bytes:
            self._refuse(413, self._too_large(f"{n} bytes"), drain=n)
            return None
        return n

    def _too_large(self, size: str) -> str:
        return (f"the request body is {size}, over this server's limit of {self.max_request_bytes} bytes "
                "(mixwise serve --max-request-bytes); send a shorter prompt")

    def _refuse(self, status: int, message: str, *, code: str | None = None, headers: dict | None = None,
                drain: int | bool = True) -> None:
        """Answer without reading the body, then close; ``drain`` reads and drops what the client still sends
        (at most DRAIN_BYTES, briefly) so that it can read the answer instead of a reset connection."""
        self.close_connection = True
        self._error(status, message, code=code, headers=headers)
        if drain is False:
            return
        if drain is True:  # as much as the client says it sends: its Content-Length, or up to the cap if chunked
            cl = (self.headers.get("Content-Length") or "").strip()
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            drain = int(cl) if re.fullmatch(r"[0-9]{1,19}", cl) else DRAIN_BYTES if chunked else 0
        limit = min(int(drain), DRAIN_BYTES)
        if limit <= 0:
            return
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            got, deadline = 0, time.monotonic() + 5
            while got < limit and time.monotonic() < deadline:
                chunk = self.connection.recv(min(65536, limit - got))
                if not chunk:
                    break
                got += len(chunk)
        except OSError:
            pass

    def handle_expect_100(self) -> bool:
        """Refuse before the client sends the body (curl sends ``Expect: 100-continue`` for large ones)."""
        if self.command == "POST" and self._route() in CHAT_PATHS:
            if not self._authorized():
                self.close_connection = True
                self._error(401, "missing or wrong API key", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
                return False
            cl = self.headers.get("Content-Length", "").strip()
            if cl.isascii() and cl.isdigit() and int(cl) > self.max_request_bytes:
                self.close_connection = True
                self._error(413, self._too_large(f"{int(cl)} bytes"))
                return False
        return super().handle_expect_100()

    def _read_body(self) -> bytes | None:
        """The request body within the size limit, or None once an error is answered (or the client left)."""
        length = self._length()
        if length is None:
            return None
        try:
            if length == "chunked":
                return self._read_chunked()
            data = self.rfile.read(length) if length else b""
        except OSError as e:  # stalled past `timeout`, or reset
            self.close_connection = True
            log.info("%s: dropped while sending its request (%s)", self._who(), type(e).__name__)
            return None
        if len(data) < length:
            self.close_connection = True
            log.info("%s: closed the connection after %d of %d body bytes", self._who(), len(data), length)
            return None
        return data

    def _read_chunked(self) -> bytes | None:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size):
                self._refuse(400, "malformed chunked body: bad chunk-size line", drain=False)
                return None
            n = int(size, 16)
            if n == 0:
                for _ in range(100):  # trailer fields, up to the blank line
                    if self.rfile.readline(1024) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts)
            total += n
            if total > self.max_request_bytes:
                self._refuse(413, self._too_large(f"over {self.max_request_bytes} bytes (chunked)"))
                return None
            chunk = self.rfile.read(n)
            if len(chunk) < n or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                self._refuse(400, "malformed chunked body: a chunk is shorter than its size line says", drain=False)
                return None
            parts.append(chunk)

    # --- routes ----------------------------------------------------------------------------------

    def do_GET(self) -> None:  # http.server names handlers do_<METHOD>
        route = self._route()
        if route in ("/v1/models", "/models"):
            if not self._authorized():
                self._refuse_unauthorized()
                return
            self._send(200, {"object": "list", "data": [{"id": self.backend.name, "object": "model", "created": 0,
                                                         "owned_by": "mixwise"}]})
        elif route in ("/", "/health"):  # open, for probes: no answers, only counters
            health = self.backend.health()
            self._send(200 if health["status"] == "ok" else 503, health)
        else:
            self._error(404, f"no route {self.path}; try /v1/chat/completions or /v1/models", code="not_found")

    def do_POST(self) -> None:
        if self._route() not in CHAT_PATHS:
            self._refuse(404, f"no route {self.path}; try /v1/chat/completions", code="not_found")
            return
        if not self._authorized():
            self._refuse_unauthorized()
            return
        raw = self._read_body()
        if raw is None:
            return
        try:
            if not raw.strip():
                raise RequestError("the request body is empty; send a JSON object with 'messages'")
            try:
                body = json.loads(raw)
            except RecursionError:
                raise RequestError("the request body is JSON nested too deeply") from None
            except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
                raise RequestError(f"the request body is not valid JSON: {e}") from None
            req, job = self.backend.prepare(body, label=self._who())
            self.backend.batcher.submit(job)
        except RequestError as e:
            self._send(e.status, e.payload())
            return
        except QueueFull as e:
            self._error(503, f"the server is busy: {e}; retry shortly", "server_error", code="overloaded",
                        headers={"Retry-After": "1"})
            return
        except Exception as e:  # a bug here, not the client's input: 500, traceback in the log
            log.exception("%s: unexpected error preparing a request", self._who())
            self._error(500, f"internal error: {type(e).__name__}", "server_error")
            return
        if not self._wait(job):
            return
        if job.finish_reason in ("stop", "length"):
            self._send(200, self.backend.answer(req, job))
        else:
            self._error(500, f"generation failed: {job.error or job.finish_reason}", "server_error")

    def _wait(self, job: Job) -> bool:
        """Wait for ``job``; if the client disconnects meanwhile, cancel it and return False."""
        while not job.done.wait(POLL_S):
            if self._client_gone():
                job.cancel.set()  # the worker stops this row at its next token and logs one line
                self.close_connection = True
                return False
        return True

    def _client_gone(self) -> bool:
        # Readable with nothing to read means the peer closed (a client that half-closes counts as gone).
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def do_HEAD(self) -> None:
        self.do_GET()

    def _not_allowed(self) -> None:
        self._refuse(405, f"{self.command} is not supported; use GET /v1/models or POST /v1/chat/completions",
                     headers={"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer whose dropped connections cost one log line instead of a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.info("%s:%s: connection dropped (%s)", *client_address[:2], type(exc).__name__)
        else:  # a bug in this server: keep the traceback
            log.exception("unexpected error serving %s:%s", *client_address[:2])
