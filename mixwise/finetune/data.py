"""Manifest -> chat-formatted token ids with a response-only loss mask, trimmed, audited.

Reads ``manifests/<name>/<version>/`` directly (the
:class:`mixwise.records.Manifest` record and its samples.parquet, row order =
training order); never the workspace. Each conversation is rendered
with the model's chat template, or mixwise's default Gemma turn format
(:mod:`mixwise.chat`). Tokenizers that lack ``<start_of_turn>``/``<end_of_turn>``
get them as special tokens (the caller then resizes the model's embeddings).

Masking works on the rendered *text*: for every assistant turn, the prefix
rendered with ``add_generation_prompt=True`` must be a prefix of the
conversation rendered through that turn; the characters in between (the reply
and its ``<end_of_turn>``) are the trained span. Spans are tokenized piecewise so
the mask is exact. A template that breaks this contract trains nothing for that
sample, and :func:`audit` fails loudly when a source (or the whole run) ends up
with no trained token: the silent masking bug SFT users hit most often.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mixwise.chat import END_OF_TURN, START_OF_TURN, ensure_chat_template, to_chat
from mixwise.errors import InputError, MixwiseError
from mixwise.records import Manifest


def load_rows(manifest: Manifest) -> pl.DataFrame:
    """A manifest's rows in training order, checked for what training needs."""
    path = manifest.folder
    try:
        rows = manifest.samples()
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read the samples of manifest {manifest.ref} at {path}: {e}",
                         "rebuild it with: mixwise mix SPEC.yaml") from e
    missing = {"source", "prompt", "response"} - set(rows.columns)
    if missing:
        raise InputError(f"manifest {path} lacks columns {sorted(missing)}", "rebuild it with a current mixwise")
    if rows.height == 0:
        raise InputError(f"manifest {path} has no rows", "check the mixture spec's filters")
    return rows


def conversations(rows: pl.DataFrame) -> list[tuple[list[dict], str | None]]:
    """``(messages, system)`` per row; rows without ``messages`` use prompt/response."""
    cols = rows.select([c for c in ("prompt", "response", "system", "messages") if c in rows.columns]).to_dicts()
    out = []
    for r in cols:
        msgs = r.get("messages") or [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["response"]}]
        out.append(([{"role": m["role"], "content": m["content"] or ""} for m in msgs], r.get("system")))
    return out


def prepare_tokenizer(tokenizer) -> tuple[str, list[str]]:
    """Install the default template if needed; add missing turn markers. Returns (template, added tokens)."""
    template = ensure_chat_template(tokenizer)
    added: list[str] = []
    if template == "default":
        vocab = tokenizer.get_vocab()
        added = [t for t in (START_OF_TURN, END_OF_TURN) if t not in vocab]
        if added:
            tokenizer.add_special_tokens({"additional_special_tokens": added})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return template, added


def segments(tokenizer, messages: list[dict], system: str | None) -> list[tuple[str, bool]] | None:
    """The rendered conversation as ``(text, trained)`` pieces; None if the template is not prefix-consistent."""
    chat = to_chat(messages, system)
    full = tokenizer.apply_chat_template(chat, tokenize=False)
    pieces: list[tuple[str, bool]] = []
    done = 0
    for i, m in enumerate(chat):
        if m["role"] != "assistant" or not any(c["role"] == "user" for c in chat[:i]):
            continue  # an assistant turn that answers nothing (a conversation opening with it) stays context
        before = tokenizer.apply_chat_template(chat[:i], tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(chat[: i + 1], tokenize=False)
        if not (full.startswith(through) and through.startswith(before) and len(before) >= done):
            return None
        pieces += [(full[done:len(before)], False), (full[len(before):len(through)], True)]
        done = len(through)
    pieces.append((full[done:], False))
    return [(t, trained) for t, trained in pieces if t]


@dataclass
class Tokenized:
    """Token ids with the loss mask (True where the token is a trained response token)."""

    input_ids: list[np.ndarray]
    trained: list[np.ndarray]
    sources: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    template: str = "model"
    added_tokens: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


def tokenize(rows: pl.DataFrame, tokenizer, *, max_length: int) -> Tokenized:
    """Render, tokenize, mask and trim every row; rows left with no trained token after trimming are dropped and counted."""
    template, added = prepare_tokenizer(tokenizer)
    convs = conversations(rows)
    sources = rows["source"].to_list()
    plans = [segments(tokenizer, msgs, system) for msgs, system in convs]
    texts = [t for plan in plans if plan for t, _ in plan]
    encoded = iter(tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else iter(())
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    out = Tokenized([], [], [], {}, template, added)
    for plan, source in zip(plans, sources):
        if plan is None:  # template not prefix-consistent: nothing trainable, the audit will say so
            ids, mask = list(bos), [False] * len(bos)
        else:
            ids, mask = list(bos), [False] * len(bos)
            for _, trained in plan:
                piece = next(encoded)
                ids += piece
                mask += [trained] * len(piece)
        ids, mask = ids[:max_length], mask[:max_length]  # LIMA: texts trimmed to max_length tokens
        if plan is not None and not any(mask):
            out.dropped["no_response_within_max_length"] = out.dropped.get("no_response_within_max_length", 0) + 1
            continue
        out.input_ids.append(np.asarray(ids, dtype=np.int64))
        out.trained.append(np.asarray(mask, dtype=bool))
        out.sources.append(source)
    return out


def audit(data: Tokenized) -> dict:
    """Trainable-token fraction per source; raises when any source (or the run) trains no response token."""
    per: dict[str, dict] = {}
    for ids, mask, source in zip(data.input_ids, data.trained, data.sources):
        s = per.setdefault(source, {"samples": 0, "tokens": 0, "trained_tokens": 0})
        s["samples"] += 1
        s["tokens"] += int(len(ids))
        # a token is trained when it is predicted: position 0 never is (nothing precedes it)
        s["trained_tokens"] += int(mask[1:].sum())
    for s in per.values():
        s["trained_fraction"] = round(s["trained_tokens"] / max(s["tokens"], 1), 4)
    total = sum(s["tokens"] for s in per.values())
    trained = sum(s["trained_tokens"] for s in per.values())
    report = {"template": data.template, "added_tokens": data.added_tokens, "samples": len(data), "tokens": total,
              "trained_tokens": trained, "trained_fraction": round(trained / max(total, 1), 4),
              "dropped": data.dropped, "per_source": per}
    dead = sorted(k for k, s in per.items() if s["trained_tokens"] == 0)
    if not per or trained == 0 or dead:
        where = f"sources {dead}" if dead and trained else "this run"
        raise MixwiseError(
            f"masking audit: no response token is trained for {where} (template: {data.template}); "
            "the chat template does not render assistant turns as a suffix of the generation prompt",
            "fix the tokenizer's chat_template (or remove it to use mixwise's default) and check with: mixwise train --check",
        )
    return report
