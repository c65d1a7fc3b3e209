"""Validation of an OpenAI chat-completions request body for ``mixwise serve``; pure, no model.

:func:`parse_chat_request` turns a decoded JSON body into a :class:`ChatRequest`
or raises :class:`RequestError` (an HTTP status, a message naming the field,
the bad value and the accepted range, and OpenAI's ``param``/``code``). Every
field a client sends is checked here, so user input never reaches the model
in a shape that could fail there (the fuzz test in tests/test_serve_limits.py
sends arbitrary JSON over HTTP and expects only 200 or 400).

    from mixwise.evaluate.serve_request import parse_chat_request
    parse_chat_request({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}, max_tokens_cap=2048)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
INT64 = (-(2**63), 2**63 - 1)
# Fields that change the answer but that this server does not implement: refused rather than
# silently ignored. Each maps to the values that are harmless (the field's "off" values).
UNSUPPORTED = {
    "stream": (None, False),
    "stop": (None, [], ""),
    "tools": (None, []),
    "functions": (None, []),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "logit_bias": (None, {}),
    "frequency_penalty": (None, 0, 0.0),
    "presence_penalty": (None, 0, 0.0),
}


class RequestError(ValueError):
    """A request the client must change: HTTP ``status`` plus OpenAI's error fields."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None, status: int = 400,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.code, self.status, self.kind = message, param, code, status, kind

    def payload(self) -> dict:
        """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    """A validated request: the chat and how to decode it (``max_tokens`` None = the server's default)."""

    messages: list[dict]
    max_tokens: int | None
    temperature: float
    top_p: float
    seed: int
    model: str | None


def parse_chat_request(body: object, *, max_tokens_cap: int) -> ChatRequest:
    """A :class:`ChatRequest` from a decoded JSON body; raises :class:`RequestError` naming the bad field."""
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {_kind(body)}")
    for name, harmless in UNSUPPORTED.items():
        value = body.get(name)
        if not any(value == h and type(value) is type(h) for h in harmless):
            raise RequestError(f"'{name}' is not supported by mixwise serve (got {_show(value)}); leave it out",
                               param=name, code="unsupported_parameter")
    n = body.get("n")
    if n is not None and (type(n) is not int or n != 1):
        raise RequestError(f"only n=1 is supported (got {_show(n)})", param="n")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"'model' must be a string, got {_kind(model)}", param="model")
    max_tokens = None
    for name in ("max_tokens", "max_completion_tokens"):  # the newer name wins when both are sent
        value = body.get(name)
        if value is not None:
            max_tokens = _integer(value, name, 1, max_tokens_cap,
                                  fix=f"the server's cap is {max_tokens_cap} (mixwise serve --max-tokens-cap)")
    temperature = _number(body.get("temperature"), "temperature", 0.0, 2.0, default=1.0)
    top_p = _number(body.get("top_p"), "top_p", 0.0, 1.0, default=1.0)
    seed = 0 if body.get("seed") is None else _integer(body["seed"], "seed", *INT64, fix="a 64-bit signed integer")
    return ChatRequest(_messages(body.get("messages")), max_tokens, temperature, top_p, seed, model)


def _messages(messages: object) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise RequestError(f"'messages' must be a non-empty list of {{role, content}} objects, got {_show(messages)}",
                           param="messages")
    out = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise RequestError(f"{where} must be an object with 'role' and 'content', got {_kind(m)}", param=where)
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise RequestError(f"{where}.role must be one of {', '.join(ROLES)} (got {_show(role)})", param=f"{where}.role")
        out.append({"role": ROLES[role], "content": _text(m.get("content"), f"{where}.content")})
    if all(m["role"] == "system" for m in out):
        raise RequestError("'messages' has only system messages; add a user message", param="messages")
    return out


def _text(content: object, where: str) -> str:
    if isinstance(content, list):  # content parts: text only
        parts = []
        for j, p in enumerate(content):
            if not isinstance(p, dict) or p.get("type", "text") != "text" or not isinstance(p.get("text"), str):
                raise RequestError(f"{where}[{j}] must be a text part {{\"type\": \"text\", \"text\": \"...\"}}; "
                                   "mixwise serve takes text only", param=where)
            parts.append(p["text"])
        content = "".join(parts)
    if not isinstance(content, str):
        raise RequestError(f"{where} must be a string or a list of text parts, got {_kind(content)}", param=where)
    try:  # JSON can carry lone surrogates ("\ud800"), which no tokenizer can encode
        content.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RequestError(f"{where} has an invalid character at position {e.start} (a lone UTF-16 surrogate); "
                           "send valid Unicode", param=where) from None
    return content


def _integer(value: object, name: str, lo: int, hi: int, *, fix: str) -> int:
    if type(value) is not int:  # bool is an int subclass; 5.0 is not an integer here
        raise RequestError(f"'{name}' must be an integer from {lo} to {hi}, got {_show(value)}; {fix}", param=name)
    if not lo <= value <= hi:
        raise RequestError(f"'{name}' is {_show(value)}, outside {lo}..{hi}; {fix}", param=name)
    return value


def _number(value: object, name: str, lo: float, hi: float, *, default: float) -> float:
    if value is None:
        return default
    if type(value) not in (int, float) or (isinstance(value, float) and not math.isfinite(value)):
        raise RequestError(f"'{name}' must be a number from {lo:g} to {hi:g}, got {_show(value)}", param=name)
    if not lo <= value <= hi:  # compared before float(): a huge JSON integer would overflow
        raise RequestError(f"'{name}' is {_show(value)}, outside {lo:g}..{hi:g}", param=name)
    return float(value)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    """A short rendering of a client's value for an error message (never the whole of a long one)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"  # str() refuses > 4300 digits
    try:
        text = repr(value)
    except RecursionError:  # deeply nested JSON
        return _kind(value)
    return text if len(text) <= 60 else text[:57] + "..."
