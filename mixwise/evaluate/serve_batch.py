"""Dynamic batching for ``mixwise serve``: one worker thread runs the model for every request.

Requests wait in a bounded FIFO queue (:class:`QueueFull` beyond ``max_pending``).
The worker takes up to ``max_batch`` of them (waiting ``window_s`` for company
when fewer are there), left-pads their token ids into one batch and runs one
``model.generate``. Each row keeps its own settings:

* sampling: :class:`RowSampler` draws a sampled row's token from that request's
  own ``torch.Generator`` (seeded with its ``seed``) and hands ``generate`` a
  one-hot row to take greedily, so greedy and sampled requests share a batch
  and a seeded answer does not depend on what it was batched with;
* length and cancellation: :class:`RowStop` ends a row at its own
  ``max_tokens`` or as soon as its ``cancel`` flag is set (the HTTP layer sets
  it when the client disconnects); the batch ends when every row has;
* fairness: when a row has ended or other requests wait, the batch is cut as
  soon as it has made ``slice_tokens`` new tokens; finished rows are answered,
  unfinished ones go to the back of the queue with what they have generated
  and continue from there (prompt plus generated tokens are prefilled again).
  A short request waits about one slice beside or behind a long one, not the
  long one's whole answer; the price is re-reading long contexts once per
  slice under load. Greedy answers are the same either way (up to float
  rounding; tested).

    batcher = Batcher(model, tokenizer)
    job = batcher.submit(Job(prompt_ids=[2, 106, 1645], max_tokens=8))
    job.done.wait(); print(job.generated, job.finish_reason)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from mixwise.evaluate.generate import stop_token_ids

log = logging.getLogger("mixwise.serve")


@dataclass(eq=False)
class Job:
    """One request's generation: its prompt ids and settings in, generated ids and why it ended out."""

    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    label: str = ""  # for log lines: who asked
    generated: list[int] = field(default_factory=list)
    finish_reason: str | None = None  # stop | length | cancelled | error
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    generator: object = None  # torch.Generator, made by the worker for sampled rows

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0 or self.top_p <= 0


class QueueFull(Exception):
    """The server holds ``max_pending`` requests already; the client should retry later."""


class RowSampler(LogitsProcessor):
    """Samples each sampled row from its own generator; leaves greedy rows to ``generate``'s argmax."""

    def __init__(self, jobs: list[Job]):
        self.rows = [(i, j) for i, j in enumerate(jobs) if not j.greedy]

    def __call__(self, input_ids, scores):
        import torch

        for i, job in self.rows:
            # shift before scaling: a tiny temperature then gives 0 and -inf (a one-hot softmax), never inf - inf
            row64 = scores[i].double()  # float64: a temperature like 1e-300 is 0 in float32
            logits = (row64 - row64.max()) / job.temperature
            if job.top_p < 1.0:  # nucleus: the smallest top set whose mass reaches top_p (at least one token)
                ordered, index = torch.sort(logits, descending=True)
                probs = ordered.softmax(-1)
                ordered[(probs.cumsum(-1) - probs) >= job.top_p] = float("-inf")
                logits = torch.full_like(logits, float("-inf")).scatter(0, index, ordered)
            token = torch.multinomial(logits.softmax(-1), 1, generator=job.generator)
            row = torch.full_like(scores[i], float("-inf"))
            row[token] = 0.0
            scores[i] = row
        return scores


class RowStop(StoppingCriteria):
    """Ends each row at a stop token, its budget or its cancel flag; cuts the whole batch, once it has made
    ``slice_tokens`` new tokens, when a row has ended or ``preempt()`` says others are waiting."""

    def __init__(self, jobs: list[Job], start: int, budgets: list[int], stops: list[int], slice_tokens: int, preempt):
        self.jobs, self.start, self.budgets, self.stops = jobs, start, budgets, set(stops)
        self.slice_tokens, self.preempt = slice_tokens, preempt
        self.ended: list[int | None] = [None] * len(jobs)  # the step at which each row ended
        self.preempted = False

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        step = input_ids.shape[1] - self.start
        last = input_ids[:, -1].tolist()
        for i, (job, budget) in enumerate(zip(self.jobs, self.budgets)):
            if self.ended[i] is None and (last[i] in self.stops or step >= budget or job.cancel.is_set()):
                self.ended[i] = step  # sticky: after its end a row is padded, and pad may be any token
        # An ended row's client waits for the batch; a queued request waits for the model. Either way, after a
        # slice the batch stops and the unfinished rows go back in the queue.
        ended = [e is not None for e in self.ended]
        if step >= self.slice_tokens and not all(ended) and (any(ended) or self.preempt()):
            self.preempted = True
            return torch.ones(len(self.jobs), dtype=torch.bool, device=input_ids.device)
        return torch.tensor(ended, dtype=torch.bool, device=input_ids.device)


class Batcher:
    """The queue and the worker thread that batches requests through one model."""

    def __init__(self, model, tokenizer, *, max_batch: int = 8, max_pending: int = 64, window_s: float = 0.01,
                 slice_tokens: int = 64):
        self.model, self.max_batch, self.max_pending = model, max_batch, max_pending
        self.window_s, self.slice_tokens = window_s, slice_tokens
        self.stops = stop_token_ids(tokenizer)
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stops[0]
        self.device = next(model.parameters()).device
        self.queue: deque[Job] = deque()
        self.cond = threading.Condition()  # an RLock inside: _finish may run with it held
        self.pending = 0  # admitted and not finished: queued + running
        self.running = 0
        self.current: list[Job] = []  # the batch being generated
        self.stats: Counter = Counter()
        self.closed = False
        self.thread = threading.Thread(target=self._loop, name="mixwise-serve-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Job:
        """Queue ``job``; raises :class:`QueueFull` when ``max_pending`` requests are already in."""
        with self.cond:
            if self.closed or self.pending >= self.max_pending:
                self.stats["rejected"] += 1
                raise QueueFull(f"{self.pending} requests are already queued or running (--max-queue {self.max_pending})")
            self.pending += 1
            self.stats["admitted"] += 1
            self.queue.append(job)
            self.cond.notify()
        return job

    def close(self) -> None:
        """Stop the worker: queued requests end as cancelled, running ones stop at their next token."""
        with self.cond:
            self.closed = True
            for job in [*self.queue, *self.current]:
                job.cancel.set()
            self.cond.notify_all()
        self.thread.join(timeout=30)

    def healthy(self) -> bool:
        return self.thread.is_alive() and not self.closed

    def _finish(self, job: Job, reason: str, error: str | None = None) -> None:
        with self.cond:
            job.finish_reason, job.error = reason, error
            self.pending -= 1
            self.stats[reason] += 1
            self.stats["completion_tokens"] += len(job.generated)
        if reason == "cancelled":
            log.info("%s: client went away; generation stopped after %d tokens", job.label or "request", len(job.generated))
        job.done.set()

    def _take(self) -> list[Job]:
        with self.cond:
            while not self.queue and not self.closed:
                self.cond.wait()
            deadline = time.monotonic() + self.window_s
            while not self.closed and len(self.queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                self.cond.wait(left)  # a moment for concurrent requests to join this batch
            jobs: list[Job] = []
            while self.queue and len(jobs) < self.max_batch:
                job = self.queue.popleft()
                if job.cancel.is_set():
                    self._finish(job, "cancelled")
                else:
                    jobs.append(job)
            self.running, self.current = len(jobs), jobs
            return jobs

    def _loop(self) -> None:
        while not self.closed:
            jobs = self._take()
            try:
                if len(jobs) > 1:
                    try:
                        self._run(jobs)
                    except Exception as e:  # noqa: BLE001 - e.g. out of memory: retry each alone, fail only those that fail
                        log.warning("a batch of %d failed (%s: %s); running its requests one at a time",
                                    len(jobs), type(e).__name__, e)
                        for job in jobs:
                            if not job.done.is_set():
                                self._run_alone(job)
                elif jobs:
                    self._run_alone(jobs[0])
            finally:
                with self.cond:
                    self.running, self.current = 0, []

    def _run_alone(self, job: Job) -> None:
        try:
            self._run([job])
        except Exception as e:  # noqa: BLE001 - a model failure fails this request, not the server
            log.error("%s: generation failed: %s: %s", job.label or "request", type(e).__name__, e)
            self._finish(job, "error", f"{type(e).__name__}: {e}")

    def _run(self, jobs: list[Job]) -> None:
        """One ``generate`` over ``jobs``; finishes or re-queues each."""
        import torch

        seqs = [j.prompt_ids + j.generated for j in jobs]
        width = max(map(len, seqs))
        ids = torch.tensor([[self.pad] * (width - len(s)) + s for s in seqs], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
        budgets = [j.max_tokens - len(j.generated) for j in jobs]
        for j in jobs:
            if not j.greedy and j.generator is None:
                j.generator = torch.Generator(device=self.device).manual_seed(j.seed)
        stop = RowStop(jobs, width, budgets, self.stops, self.slice_tokens, lambda: len(self.queue) > 0)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max(budgets), eos_token_id=self.stops,
                pad_token_id=self.pad, do_sample=False, temperature=None, top_p=None, top_k=None,
                logits_processor=LogitsProcessorList([RowSampler(jobs)]), stopping_criteria=StoppingCriteriaList([stop]))
        with self.cond:
            self.stats["batches"] += 1
            self.stats["preempted"] += int(stop.preempted)
        for job, row, ended in zip(jobs, out[:, width:].tolist(), stop.ended):
            row = row[:ended or len(row)]  # a row that ended early is padded to the batch's length
            cut = next((k for k, t in enumerate(row) if t in self.stops), None)
            job.generated += row if cut is None else row[:cut]
            if job.cancel.is_set():
                self._finish(job, "cancelled")
            elif cut is not None:
                self._finish(job, "stop")
            elif len(job.generated) >= job.max_tokens:
                self._finish(job, "length")
            else:  # cut short by the slice: continue after the others
                with self.cond:
                    self.queue.append(job)
                    self.cond.notify()
