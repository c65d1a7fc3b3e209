"""`mixwise serve`'s request validation and start-up checks, without a model (fast)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mixwise.evaluate.serve import context_limit, exposure_warning, is_loopback
from mixwise.evaluate.serve_request import RequestError, parse_chat_request

MSG = [{"role": "user", "content": "hi"}]


def test_a_valid_request_keeps_its_settings():
    r = parse_chat_request({"messages": [{"role": "developer", "content": "be brief"},
                                         {"role": "user", "content": [{"type": "text", "text": "a"}, {"text": "b"}]}],
                            "max_completion_tokens": 7, "temperature": 0, "top_p": 0.5, "seed": -3, "n": 1,
                            "stream": False, "stop": None, "model": "m"}, max_tokens_cap=8)
    assert r.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ab"}]
    assert (r.max_tokens, r.temperature, r.top_p, r.seed, r.model) == (7, 0.0, 0.5, -3, "m")
    defaults = parse_chat_request({"messages": MSG}, max_tokens_cap=8)
    assert (defaults.max_tokens, defaults.temperature, defaults.top_p, defaults.seed) == (None, 1.0, 1.0, 0)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("max_tokens", -5, "outside 1..8"), ("max_tokens", 0, "outside 1..8"), ("max_tokens", 10**9, "--max-tokens-cap"),
    ("max_tokens", 9, "outside 1..8"), ("max_tokens", 2.0, "must be an integer"), ("max_tokens", True, "must be an integer"),
    ("max_tokens", "8", "must be an integer"), ("max_completion_tokens", 0, "outside"),
    ("temperature", -0.1, "outside 0..2"), ("temperature", 2.5, "outside 0..2"), ("temperature", "hot", "must be a number"),
    ("temperature", True, "must be a number"), ("temperature", float("nan"), "must be a number"),
    ("temperature", 10**400, "digits"), ("top_p", 1.5, "outside 0..1"), ("top_p", float("inf"), "must be a number"),
    ("n", 2, "only n=1"), ("n", True, "only n=1"), ("seed", "x", "integer"), ("seed", 2**64, "outside"),
    ("seed", 1.5, "integer"), ("stream", True, "not supported"), ("stop", ["\n"], "not supported"),
    ("logprobs", True, "not supported"), ("model", 5, "must be a string"),
    ("messages", [], "non-empty list"), ("messages", "hi", "non-empty list"), ("messages", [5], "messages[0]"),
    ("messages", [{"role": "robot", "content": "x"}], "messages[0].role"), ("messages", [{"content": "x"}], "role"),
    ("messages", [{"role": "user", "content": 5}], "messages[0].content"),
    ("messages", [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "text only"),
    ("messages", [{"role": "user", "content": "a\ud800b"}], "surrogate"),
    ("messages", [{"role": "system", "content": "x"}], "only system"),
])
def test_bad_fields_name_the_field_and_the_range(field, value, says):
    with pytest.raises(RequestError) as e:
        parse_chat_request({"messages": MSG, field: value}, max_tokens_cap=8)
    assert e.value.status == 400 and says in e.value.message
    assert (e.value.param or "").startswith(field)
    assert set(e.value.payload()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("body", [None, [], "x", 5, True])
def test_a_body_that_is_not_an_object(body):
    with pytest.raises(RequestError, match="must be a JSON object"):
        parse_chat_request(body, max_tokens_cap=8)


def test_loopback_and_the_exposure_warning():
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "", "192.168.1.5", "myhost"]))
    assert exposure_warning("127.0.0.1", None) is None and exposure_warning("0.0.0.0", "k") is None
    assert "WITHOUT an API key" in exposure_warning("0.0.0.0", None)
    assert "every interface" in exposure_warning("", None)


def test_context_limit_takes_the_config_then_a_real_tokenizer_limit():
    model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=4096))
    assert context_limit(model, SimpleNamespace(model_max_length=int(1e30))) == (4096, "config.max_position_embeddings")
    assert context_limit(model, SimpleNamespace(model_max_length=1024)) == (1024, "tokenizer.model_max_length")
    gpt2ish = SimpleNamespace(config=SimpleNamespace(n_positions=1024))
    assert context_limit(gpt2ish, SimpleNamespace()) == (1024, "config.n_positions")
    assert context_limit(SimpleNamespace(config=SimpleNamespace()), SimpleNamespace())[0] == 2048
