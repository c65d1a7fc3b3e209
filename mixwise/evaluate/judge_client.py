"""An async client for any OpenAI-compatible judge endpoint: concurrency, retries, budget, cache.

Built on ``openai.AsyncOpenAI`` (OpenAI, vLLM, llama.cpp server, Ollama,
``mixwise serve``). The endpoint comes from arguments, then the environment:
``MIXWISE_JUDGE_BASE_URL`` / ``OPENAI_BASE_URL``, ``MIXWISE_JUDGE_API_KEY`` /
``OPENAI_API_KEY``, ``MIXWISE_JUDGE_MODEL`` (else the judge config's model).

* at most ``concurrency`` requests in flight (an ``asyncio.Semaphore``);
* rate limits (429), server errors (5xx), timeouts and dropped connections are
  retried with exponential backoff and jitter (``Retry-After`` honoured, capped);
  other errors (bad key, unknown model) stop the run with a clean message;
* a :class:`Budget` caps HTTP requests (retries included) and tokens; once it is
  spent no new request starts, and the caller records the rest as ``budget``;
* answers are looked up in and written to a :class:`JudgeCache` first.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field

from mixwise.errors import MixwiseError
from mixwise.evaluate.judge_cache import JudgeCache, cache_key


@dataclass
class Budget:
    """Caps on HTTP requests and tokens (prompt + completion); ``None`` means unlimited."""

    max_requests: int | None = None
    max_tokens: int | None = None
    requests: int = 0
    tokens: int = 0
    exhausted: bool = False

    def reserve(self) -> bool:
        """Claim one request; False (and ``exhausted``) once a cap is reached."""
        over_requests = self.max_requests is not None and self.requests >= self.max_requests
        over_tokens = self.max_tokens is not None and self.tokens >= self.max_tokens
        if over_requests or over_tokens:
            self.exhausted = True
            return False
        self.requests += 1
        return True


@dataclass
class Answer:
    """One judge answer, from the endpoint or the cache."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool


@dataclass
class ClientStats:
    calls: int = 0          # answers obtained over HTTP
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0       # calls that failed after every retry
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict = field(default_factory=dict)


class BudgetExhausted(Exception):
    """No request may start: the budget is spent."""


class CallFailed(Exception):
    """A call failed after all retries (the reason is the message)."""


def endpoint(base_url: str | None = None, api_key: str | None = None, model: str | None = None,
             default_model: str | None = None) -> tuple[str | None, str, str]:
    """(base_url, api_key, model) from arguments, then the environment, then the judge's default model."""
    base_url = base_url or os.environ.get("MIXWISE_JUDGE_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    api_key = api_key or os.environ.get("MIXWISE_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        if not base_url:
            raise MixwiseError("no judge endpoint configured", "pass --judge-base-url URL (e.g. from `mixwise serve MODEL`) or set OPENAI_API_KEY")
        api_key = "not-needed"  # local servers ignore the key, but the client requires one
    model = model or os.environ.get("MIXWISE_JUDGE_MODEL") or default_model
    if not model:
        raise MixwiseError("no judge model named", "pass --judge-model NAME or set MIXWISE_JUDGE_MODEL")
    return base_url, api_key, model


class JudgeClient:
    """Cached, budgeted, retrying chat completions against one endpoint and model."""

    def __init__(self, *, model: str, base_url: str | None, api_key: str, cache: JudgeCache, budget: Budget | None = None,
                 concurrency: int = 8, max_retries: int = 5, timeout: float = 120.0, backoff: float = 1.0,
                 max_backoff: float = 30.0):
        self.model, self.base_url, self.api_key = model, base_url, api_key
        self.cache, self.budget = cache, budget or Budget()
        self.concurrency, self.max_retries, self.timeout = concurrency, max_retries, timeout
        self.backoff, self.max_backoff = backoff, max_backoff
        self.stats = ClientStats()
        self._client = None
        self._sem: asyncio.Semaphore | None = None

    def key(self, judge_id: str, version: int, messages: list[dict], params: dict) -> str:
        return cache_key(judge_id, version, self.model, messages, params)

    def cached(self, judge_id: str, version: int, messages: list[dict], params: dict) -> bool:
        return self.cache.get(self.key(judge_id, version, messages, params)) is not None

    def _ensure(self) -> None:
        if self._client is None:
            import openai

            # our own retry loop (counted, budgeted, tested) replaces the client's
            self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=self.timeout)
            self._sem = asyncio.Semaphore(self.concurrency)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _delay(self, attempt: int, error: Exception) -> float:
        retry_after = None
        response = getattr(error, "response", None)
        if response is not None:
            try:
                retry_after = float(response.headers.get("retry-after"))
            except (TypeError, ValueError):
                retry_after = None
        base = retry_after if retry_after is not None else self.backoff * (2 ** attempt)
        return min(self.max_backoff, base) * (1 + 0.25 * random.random())

    async def complete(self, judge_id: str, version: int, messages: list[dict], params: dict) -> Answer:
        """The judge's answer (cache first); raises BudgetExhausted or CallFailed."""
        import openai

        key = self.key(judge_id, version, messages, params)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            return Answer(hit[0], hit[1], hit[2], cached=True)
        self._ensure()
        retryable = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError)
        async with self._sem:
            for attempt in range(self.max_retries + 1):
                if not self.budget.reserve():
                    raise BudgetExhausted()
                try:
                    extra = {"seed": params["seed"]} if params.get("seed") is not None else {}
                    resp = await self._client.chat.completions.create(
                        model=self.model, messages=messages, temperature=params.get("temperature", 0.0),
                        max_tokens=params.get("max_tokens", 400), **extra,
                    )
                except retryable as e:
                    name = type(e).__name__
                    self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
                    if attempt == self.max_retries:
                        self.stats.failures += 1
                        if type(e) is openai.APIConnectionError:  # nothing listening: stop, do not fail every item
                            raise MixwiseError(f"cannot reach the judge endpoint {self.base_url or 'OpenAI'}",
                                               "start it (e.g. mixwise serve MODEL) or fix --judge-base-url; "
                                               "finished judgments are cached and a re-run resumes") from e
                        raise CallFailed(f"{name} after {attempt + 1} attempts") from e
                    self.stats.retries += 1
                    await asyncio.sleep(self._delay(attempt, e))
                    continue
                except openai.APIStatusError as e:
                    raise MixwiseError(f"judge endpoint refused the request ({e.status_code}: {str(e)[:200]})",
                                       "check --judge-base-url, the API key and --judge-model") from e
                text = (resp.choices[0].message.content or "") if resp.choices else ""
                usage = resp.usage
                pt = usage.prompt_tokens if usage else sum(len(m["content"]) for m in messages) // 4
                ct = usage.completion_tokens if usage else len(text) // 4
                self.budget.tokens += pt + ct
                self.stats.calls += 1
                self.stats.prompt_tokens += pt
                self.stats.completion_tokens += ct
                self.cache.put(key, f"{judge_id}@{version}", self.model, text, pt, ct)
                return Answer(text, pt, ct, cached=False)
        raise CallFailed("unreachable")  # pragma: no cover
