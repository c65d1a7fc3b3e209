"""A small OpenAI-compatible HTTP server over a transformers model; ``mixwise serve MODEL``.

Enough of the API for mixwise's judge and for any OpenAI client:
``GET /v1/models`` and ``POST /v1/chat/completions`` (non-streaming; ``messages``,
``max_tokens``/``max_completion_tokens``, ``temperature``, ``top_p``, ``seed``;
``n`` must be 1), plus ``GET /health``. Built on the standard library's
``ThreadingHTTPServer``: no web framework to install.

What it does with bad and heavy requests (docs/judge.md has the table):

* every field is validated (:mod:`mixwise.evaluate.serve_request`): bad input is
  a 400 in OpenAI's error shape, never a 500; a prompt longer than the model's
  context is a 400 naming its token count and the limit, found before any
  tensor is built; a body over ``max_request_bytes`` is a 413, refused from its
  ``Content-Length`` (or while reading a chunked body) before it is read;
* ``api_key``: then every route but ``/health`` needs ``Authorization: Bearer KEY``
  (compared in constant time), else 401;
* requests are batched by one worker thread (:mod:`mixwise.evaluate.serve_batch`),
  with a bounded queue answering 503 + ``Retry-After`` when full;
* a client that disconnects while waiting has its generation stopped (its
  socket is polled while it waits) and costs one log line, not a traceback.

    python -m mixwise serve tiny-random --port 8011
    curl -s localhost:8011/v1/chat/completions -d '{"messages":[{"role":"user","content":"hi"}]}'
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import uuid
from http.server import ThreadingHTTPServer

from mixwise.evaluate.generate import chat_text, prompt_ids
from mixwise.evaluate.serve_batch import Batcher, Job
from mixwise.evaluate.serve_http import DEFAULT_MAX_REQUEST_BYTES, Handler, Server
from mixwise.evaluate.serve_request import ChatRequest, RequestError, parse_chat_request

log = logging.getLogger("mixwise.serve")

DEFAULT_MAX_TOKENS = 256  # when a request names no max_tokens (also bounded by the cap and the context left)


def context_limit(model, tokenizer) -> tuple[int, str]:
    """The most tokens (prompt + answer) the model takes, and where that number came from.

    The config's position limit (``max_position_embeddings`` or its older names), lowered to the
    tokenizer's ``model_max_length`` when that is set (transformers fills in ~1e30 when it is not).
    """
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    found = []
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            found.append((value, f"config.{attr}"))
            break
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 10**7:
        found.append((tok_max, "tokenizer.model_max_length"))
    return min(found) if found else (2048, "mixwise's default; the model names no limit")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (names other than localhost count as not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning to print when listening beyond loopback without an API key, else None."""
    if api_key or is_loopback(host):
        return None
    return (f"listening on {host or 'every interface'} WITHOUT an API key: anyone who can reach this port can use "
            "the model. Set --api-key (or $MIXWISE_SERVE_API_KEY), or listen on --host 127.0.0.1.")


def check_api_key(api_key: str | None) -> None:
    """Refuse a key no client could send, or an empty ``--api-key ""`` (which must not quietly mean "no key")."""
    if api_key is not None and (not api_key or not api_key.isascii() or not api_key.isprintable() or " " in api_key):
        from mixwise.errors import MixwiseError

        raise MixwiseError("the API key is empty or has spaces or non-ASCII characters",
                           "use printable ASCII without spaces, as OpenAI clients send it")


class ModelBackend:
    """A loaded model answering chat requests through a :class:`Batcher`; counts what it served.

    ``slice_tokens`` and ``batch_window_s`` tune the batcher (see :mod:`mixwise.evaluate.serve_batch`).
    """

    def __init__(self, name: str, *, device: str | None = None, loaded: tuple | None = None, max_tokens_cap: int = 2048,
                 context_length: int | None = None, max_batch: int = 8, max_queue: int = 64,
                 slice_tokens: int = 64, batch_window_s: float = 0.01):
        from mixwise.chat import ensure_chat_template
        from mixwise.errors import MixwiseError
        from mixwise.models import load_causal_lm

        self.name = name
        # ``loaded``: an already loaded (model, tokenizer), e.g. to serve one model with several settings
        self.model, self.tokenizer = loaded or load_causal_lm(name, device=device)
        ensure_chat_template(self.tokenizer)
        self.context_length, self.context_source = context_limit(self.model, self.tokenizer)
        if context_length is not None:
            if not 1 < context_length <= self.context_length:
                raise MixwiseError(f"--context-length {context_length} is outside 2..{self.context_length}",
                                   f"{name}'s own limit is {self.context_length} ({self.context_source})")
            self.context_length, self.context_source = context_length, "--context-length"
        self.max_tokens_cap = max_tokens_cap
        # Handler threads encode and decode concurrently, without a lock: a fast tokenizer only refuses that
        # ("Already borrowed") while one call changes its truncation/padding settings, which transformers does
        # on the first call with settings that differ from the loaded ones. Make that first call here.
        prompt_ids(self.tokenizer, chat_text(self.tokenizer, [{"role": "user", "content": "warm-up"}]))
        self.batcher = Batcher(self.model, self.tokenizer, max_batch=max_batch, max_pending=max_queue,
                               window_s=batch_window_s, slice_tokens=slice_tokens)

    @property
    def requests(self) -> int:
        """Chat requests admitted for generation (answered, running, queued or cancelled)."""
        return self.batcher.stats["admitted"]

    def prepare(self, body: object, label: str = "") -> tuple[ChatRequest, Job]:
        """Validate a request body and tokenize its prompt; raises :class:`RequestError` (no tensor built yet)."""
        req = parse_chat_request(body, max_tokens_cap=self.max_tokens_cap)
        try:
            text = chat_text(self.tokenizer, req.messages)
        except Exception as e:  # noqa: BLE001 - a model's template may refuse a conversation (roles must alternate, ...)
            raise RequestError(f"the model's chat template refused these messages: {e}", param="messages") from None
        ids = prompt_ids(self.tokenizer, text)  # ~1 s per MB of text here: why the body limit is a few MB
        n, limit, room = len(ids), self.context_length, self.context_length - len(ids)
        where = f"{self.name}'s context is {limit} tokens ({self.context_source})"
        if room < 1:
            raise RequestError(f"the prompt is {n} tokens and {where}, prompt and answer together; shorten the messages",
                               param="messages", code="context_length_exceeded")
        if req.max_tokens is None:
            max_tokens = min(DEFAULT_MAX_TOKENS, self.max_tokens_cap, room)
        elif req.max_tokens > room:
            raise RequestError(f"the prompt is {n} tokens and max_tokens is {req.max_tokens}, {n + req.max_tokens} in all, "
                               f"but {where}; ask for at most {room} tokens or shorten the messages",
                               param="max_tokens", code="context_length_exceeded")
        else:
            max_tokens = req.max_tokens
        return req, Job(ids, max_tokens, req.temperature, req.top_p, req.seed, label=label)

    def answer(self, req: ChatRequest, job: Job) -> dict:
        """The OpenAI ``chat.completion`` object for a finished job."""
        text = self.tokenizer.decode(job.generated, skip_special_tokens=True).strip()
        n_prompt, n_out = len(job.prompt_ids), len(job.generated)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model or self.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": job.finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out},
        }

    def chat(self, body: object) -> dict:
        """Answer one request body, blocking (raises RequestError, QueueFull, or RuntimeError if generation failed)."""
        req, job = self.prepare(body)
        self.batcher.submit(job).done.wait()
        if job.finish_reason not in ("stop", "length"):
            raise RuntimeError(job.error or f"generation ended as {job.finish_reason}")
        return self.answer(req, job)

    def health(self) -> dict:
        """Liveness and counters for ``GET /health``."""
        b = self.batcher
        with b.cond:
            counts = {k: b.stats[k] for k in ("stop", "length", "cancelled", "error", "rejected", "batches", "preempted")}
            return {"status": "ok" if b.healthy() else "down", "model": self.name, "requests": b.stats["admitted"],
                    "queued": len(b.queue), "running": b.running, "completion_tokens": b.stats["completion_tokens"],
                    **counts, "context_length": self.context_length, "max_tokens_cap": self.max_tokens_cap}

    def close(self) -> None:
        self.batcher.close()


def make_server(backend: ModelBackend, host: str = "127.0.0.1", port: int = 8000, *, api_key: str | None = None,
                max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> Server:
    """An HTTP server bound to host:port (port 0 = a free one) serving ``backend``."""
    check_api_key(api_key)
    handler = type("BoundHandler", (Handler,), {"backend": backend, "api_key": api_key,
                                                "max_request_bytes": max_request_bytes})
    return Server((host, port), handler)


def serve_in_thread(server: ThreadingHTTPServer) -> str:
    """Start ``server`` on a daemon thread; returns its OpenAI base URL (``http://host:port/v1``)."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/v1"
