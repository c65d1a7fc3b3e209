"""Instruction-data formats: detect one from record keys, convert records to canonical turns.

Each converter takes one record (a dict) and returns a :class:`Converted`, or
raises :class:`Reject` with a snake_case reason naming the field. Converters
are pure and small so every format and every rejection is easy to test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mixwise.curate.templates import unwrap
from mixwise.errors import InputError

#: ShareGPT-style speaker names -> canonical roles. Odd ones seen in the wild included.
ROLE_ALIASES = {
    "human": "user",
    "user": "user",
    "prompter": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
}

#: Fields that name a record's own id, in order of preference.
ID_FIELDS = ("id", "question_id", "conversation_id", "uid", "idx")


class Reject(Exception):
    """A record that cannot become a sample; ``reason`` is snake_case and names the field."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(reason)


@dataclass
class Converted:
    """Canonical content of one record."""

    messages: list[tuple[str, str]]  # (role, content), user/assistant only
    system: str | None = None
    template: str | None = None
    category: str | None = None


# -- field helpers --------------------------------------------------------------------------
#: Exactly the characters Python's ``str.strip()`` removes.
PY_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
#: Invisible format characters: zero-width space, non-joiner and joiner, word joiner, byte-order mark.
#: ShareGPT holds hundreds of assistant turns that are a lone U+200B (a reply the scrape did not capture).
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def is_blank(text: str) -> bool:
    """Whether a text is empty for a reader: nothing but whitespace and invisible format characters.

    Only the emptiness check uses this; stored text is stripped of whitespace only.
    """
    return not text.strip(PY_WHITESPACE + INVISIBLE)


def _text(rec: dict, key: str, required: bool = True) -> str:
    """A string field: rejects missing / non-string / empty (when required) values."""
    if key not in rec or rec[key] is None:
        if required:
            raise Reject(f"missing_{key}")
        return ""
    value = rec[key]
    if not isinstance(value, str):
        raise Reject(f"wrong_type_{key}", f"expected a string, got {type(value).__name__}")
    if required and is_blank(value):
        raise Reject(f"empty_{key}")
    return value.strip()


def _join(first: str, second: str) -> str:
    return f"{first}\n\n{second}" if second else first


def _check_turns(turns: list[tuple[str, str]], system: str | None = None) -> Converted:
    if not turns:
        raise Reject("empty_conversation")
    if not any(r == "user" for r, _ in turns):
        raise Reject("no_user_turn")
    if not any(r == "assistant" for r, _ in turns):
        raise Reject("no_assistant_turn")
    return Converted(turns, system=system)


def _role_turns(items: Any, role_key: str, text_key: str, field: str) -> Converted:
    """Turns from a list of ``{role_key, text_key}`` dicts (ShareGPT and OpenAI messages)."""
    if items is None:
        raise Reject(f"missing_{field}")
    if not isinstance(items, list):
        raise Reject(f"wrong_type_{field}", f"expected a list, got {type(items).__name__}")
    if not items:
        raise Reject("empty_conversation")
    turns: list[tuple[str, str]] = []
    systems: list[str] = []
    for turn in items:
        if not isinstance(turn, dict):
            raise Reject(f"wrong_type_{field}", "every turn must be an object")
        who = turn.get(role_key)
        if not isinstance(who, str):
            raise Reject(f"missing_{role_key}" if who is None else f"wrong_type_{role_key}")
        role = ROLE_ALIASES.get(who.strip().lower())
        if role is None:
            raise Reject("unknown_role", f"role {who!r}")
        text = turn.get(text_key)
        if text is None:
            raise Reject(f"missing_{text_key}")
        if not isinstance(text, str):
            raise Reject(f"wrong_type_{text_key}", f"expected a string, got {type(text).__name__}")
        if is_blank(text):
            raise Reject("empty_turn", f"an empty {role} turn")
        if role == "system":
            systems.append(text.strip())
        else:
            turns.append((role, text.strip()))
    return _check_turns(turns, "\n\n".join(systems) or None)


# -- converters -----------------------------------------------------------------------------
def convert_alpaca(rec: dict) -> Converted:
    """Alpaca: ``instruction``, optional ``input``, ``output``."""
    prompt = _join(_text(rec, "instruction"), _text(rec, "input", required=False))
    return Converted([("user", prompt), ("assistant", _text(rec, "output"))])


def convert_lima(rec: dict) -> Converted:
    """LIMA: ``conversations`` as alternating strings, or instruction/input/output/history."""
    if "conversations" in rec:
        conv = rec["conversations"]
        if not isinstance(conv, list):
            raise Reject("wrong_type_conversations", f"expected a list of strings, got {type(conv).__name__}")
        if not conv:
            raise Reject("empty_conversation")
        turns = []
        for i, text in enumerate(conv):
            if not isinstance(text, str):
                raise Reject("wrong_type_conversations", "every turn must be a string")
            if is_blank(text):
                raise Reject("empty_turn")
            turns.append(("user" if i % 2 == 0 else "assistant", text.strip()))
        return _check_turns(turns)
    history = rec.get("history") or []
    if not isinstance(history, list):
        raise Reject("wrong_type_history", "expected a list of [prompt, response] pairs")
    turns = []
    for pair in history:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise Reject("wrong_type_history", "expected [prompt, response] string pairs")
        if is_blank(pair[0]) or is_blank(pair[1]):
            raise Reject("empty_turn")
        turns += [("user", pair[0].strip()), ("assistant", pair[1].strip())]
    last = convert_alpaca(rec)
    return Converted(turns + last.messages)


def convert_dolly(rec: dict) -> Converted:
    """Dolly: ``instruction``, optional ``context``, ``response``, ``category``."""
    prompt = _join(_text(rec, "instruction"), _text(rec, "context", required=False))
    category = rec.get("category") if isinstance(rec.get("category"), str) else None
    return Converted([("user", prompt), ("assistant", _text(rec, "response"))], category=category)


def convert_sharegpt(rec: dict) -> Converted:
    """ShareGPT: ``conversations: [{from, value}]`` with roles such as human/gpt/bing/chatgpt/system."""
    return _role_turns(rec.get("conversations"), "from", "value", "conversations")


def convert_openai(rec: dict) -> Converted:
    """OpenAI chat: ``messages: [{role, content}]``."""
    return _role_turns(rec.get("messages"), "role", "content", "messages")


def convert_prompt_response(rec: dict) -> Converted:
    """Prompt/response pairs (``completion`` accepted for ``response``); unwraps known templates."""
    raw_prompt = _text(rec, "prompt")
    key = "response" if "response" in rec or "completion" not in rec else "completion"
    response = _text(rec, key)
    prompt, template = unwrap(raw_prompt)
    if is_blank(prompt):
        raise Reject("empty_prompt", "nothing left after unwrapping the template")
    return Converted([("user", prompt), ("assistant", response)], template=template)


def convert_gsm8k(rec: dict) -> Converted:
    """GSM8K: ``question``, ``answer`` (worked solution ending in ``#### N``)."""
    return Converted([("user", _text(rec, "question")), ("assistant", _text(rec, "answer"))])


@dataclass(frozen=True)
class Format:
    """A known format: its converter and a key signature used to detect it."""

    name: str
    convert: Callable[[dict], Converted]
    describe: str
    matches: Callable[[dict], bool]


def _conv_kind(rec: dict) -> str | None:
    conv = rec.get("conversations")
    if isinstance(conv, list) and conv:
        if all(isinstance(x, dict) for x in conv[:3]):
            return "dicts"
        if all(isinstance(x, str) for x in conv[:3]):
            return "strings"
    return None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("openai", convert_openai, "messages: [{role, content}]", lambda r: "messages" in r),
        Format("sharegpt", convert_sharegpt, "conversations: [{from, value}]", lambda r: _conv_kind(r) == "dicts"),
        Format(
            "lima",
            convert_lima,
            "conversations: [str, ...] or instruction/input/output/history",
            lambda r: _conv_kind(r) == "strings" or ({"instruction", "output", "history"} <= r.keys()),
        ),
        Format("dolly", convert_dolly, "instruction/context/response/category", lambda r: {"instruction", "response"} <= r.keys()),
        Format("alpaca", convert_alpaca, "instruction/input/output", lambda r: {"instruction", "output"} <= r.keys()),
        Format(
            "prompt_response",
            convert_prompt_response,
            "prompt/response (or prompt/completion); Alpaca-templated prompts are unwrapped",
            lambda r: "prompt" in r and ("response" in r or "completion" in r),
        ),
        Format("gsm8k", convert_gsm8k, "question/answer", lambda r: {"question", "answer"} <= r.keys()),
    )
}


def known_formats() -> str:
    """One line listing the formats and their keys, for error messages and --help."""
    return "; ".join(f"{f.name} ({f.describe})" for f in FORMATS.values())


def detect_format(records: Iterable[Any], where: str) -> Format:
    """The format most of the first records match; an InputError listing keys and formats otherwise."""
    votes: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    seen = 0
    for rec in records:
        if not isinstance(rec, dict):
            continue
        seen += 1
        keys.update(rec.keys())
        for f in FORMATS.values():
            if f.matches(rec):
                votes[f.name] += 1
                break
        if seen >= 200:
            break
    if votes:
        return FORMATS[votes.most_common(1)[0][0]]
    seen_keys = ", ".join(k for k, _ in keys.most_common(12)) or "(no JSON objects)"
    raise InputError(
        f"cannot detect the format of {where}: keys seen: {seen_keys}",
        f"pass --format with one of: {known_formats()}",
    )


def record_id(rec: dict) -> str | None:
    """The record's own id field, when it has one."""
    for key in ID_FIELDS:
        value = rec.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) != "":
            return str(value)
    return None
