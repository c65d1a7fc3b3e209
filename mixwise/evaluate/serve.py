"""A small OpenAI-compatible HTTP server over a transformers model; ``mixwise serve MODEL``.

Enough of the API for mixwise's judge and for any OpenAI client:
``GET /v1/models`` and ``POST /v1/chat/completions`` (non-streaming; ``messages``,
``max_tokens``/``max_completion_tokens``, ``temperature``, ``top_p``, ``seed``;
``n`` must be 1). Requests are answered one at a time by a single model behind
a lock (threads accept connections; the model is not re-entrant). Built on the
standard library's ``ThreadingHTTPServer``: no web framework to install.

    python -m mixwise serve tiny-random --port 8011
    curl -s localhost:8011/v1/chat/completions -d '{"messages":[{"role":"user","content":"hi"}]}'
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mixwise.evaluate.generate import GenSettings, generate_chats


class ModelBackend:
    """A loaded model answering chat requests, serialised by a lock; counts what it served."""

    def __init__(self, name: str, *, device: str | None = None, max_tokens_cap: int = 2048):
        from mixwise.models import load_causal_lm

        self.name = name
        self.model, self.tokenizer = load_causal_lm(name, device=device)
        self.max_tokens_cap = max_tokens_cap
        self.lock = threading.Lock()
        self.requests = 0
        self.completion_tokens = 0

    def chat(self, body: dict) -> dict:
        """An OpenAI ``chat.completion`` object for a request body (raises ValueError on bad input)."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and "content" in m for m in messages):
            raise ValueError("'messages' must be a non-empty list of {role, content}")
        if body.get("stream"):
            raise ValueError("streaming is not supported by mixwise serve; send stream=false")
        if int(body.get("n") or 1) != 1:
            raise ValueError("only n=1 is supported")
        chat = [{"role": m.get("role", "user"), "content": _content(m["content"])} for m in messages]
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
        temperature = body.get("temperature")
        settings = GenSettings(
            max_new_tokens=max(1, min(max_tokens, self.max_tokens_cap)),
            temperature=1.0 if temperature is None else float(temperature),
            top_p=float(body.get("top_p") or 1.0),
            seed=int(body.get("seed") or 0),
            batch_size=1,
        )
        with self.lock:
            self.requests += 1
            done = generate_chats(self.model, self.tokenizer, [chat], settings)[0]
            self.completion_tokens += done.n_tokens
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": done.text},
                         "finish_reason": done.finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.n_tokens,
                      "total_tokens": done.prompt_tokens + done.n_tokens},
        }


def _content(content) -> str:
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


class Handler(BaseHTTPRequestHandler):
    """Routes for /v1/models and /v1/chat/completions; errors in OpenAI's JSON error shape."""

    backend: ModelBackend  # set on a subclass by make_server
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args) -> None:  # quiet by default; the CLI prints its own line
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": self.backend.name, "object": "model", "created": 0,
                                                         "owned_by": "mixwise"}]})
        elif self.path.rstrip("/") in ("", "/health"):
            self._send(200, {"status": "ok", "model": self.backend.name, "requests": self.backend.requests})
        else:
            self._error(404, f"no route {self.path}; try /v1/chat/completions or /v1/models", "not_found")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}; try /v1/chat/completions", "not_found")
            return
        try:
            body = json.loads(raw or b"{}")
            self._send(200, self.backend.chat(body))
        except (ValueError, TypeError) as e:
            self._error(400, str(e))
        except Exception as e:  # noqa: BLE001 - report the failure to the client as a 500
            self._error(500, f"{type(e).__name__}: {e}", "server_error")


def make_server(backend: ModelBackend, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server bound to host:port (port 0 = a free one) serving ``backend``."""
    handler = type("BoundHandler", (Handler,), {"backend": backend})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> str:
    """Start ``server`` on a daemon thread; returns its OpenAI base URL (``http://host:port/v1``)."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/v1"
