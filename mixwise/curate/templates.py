"""Known prompt wrappers, and how to take them off.

Some sources ship prompts already wrapped in a training template (MosaicML's
dolly_hhrlhf uses the Alpaca "### Instruction: ... ### Response:" template).
Ingest unwraps them, keeping the template's name in the ``template`` column;
dedup strips them before comparing. Add a template by appending to TEMPLATES.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """A named wrapper: a regex whose groups ``instruction`` (and optional ``input``) hold the payload."""

    name: str
    pattern: re.Pattern[str]


TEMPLATES: tuple[Template, ...] = (
    Template(
        "alpaca",
        re.compile(
            r"^\s*(?:Below is an instruction[^\n]*\n+)?"
            r"###\s*Instruction:[ \t]*\n?(?P<instruction>.*?)\s*"
            r"(?:###\s*Input:[ \t]*\n?(?P<input>.*?)\s*)?"
            r"###\s*Response:\s*$",
            re.DOTALL,
        ),
    ),
)


def unwrap(text: str) -> tuple[str, str | None]:
    """Return ``(payload, template_name)``; the text unchanged and None when no template matches."""
    if "###" not in text:  # cheap guard: every template we know uses ### headers
        return text, None
    for t in TEMPLATES:
        m = t.pattern.match(text)
        if m:
            instruction = m.group("instruction").strip()
            extra = (m.groupdict().get("input") or "").strip()
            return (f"{instruction}\n\n{extra}" if extra else instruction), t.name
    return text, None
