"""Chat formatting shared by training, generation and serving.

A model's own chat template is used when it has one. Otherwise mixwise uses a
documented default (the Gemma turn format, whose markers are single tokens in
Gemma's vocabulary; for other tokenizers the trainer adds them as special
tokens):

    <start_of_turn>user
    {prompt}<end_of_turn>
    <start_of_turn>model
    {response}<end_of_turn>

A system prompt, when present, is prepended to the first user turn. The end of
an assistant turn is ``<end_of_turn>``: LIMA's dedicated end-of-turn token.
"""

from __future__ import annotations

START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"

DEFAULT_CHAT_TEMPLATE = (
    "{%- set ns = namespace(system='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{%- set ns.system = m['content'] + '\n\n' -%}"
    "{%- else -%}"
    "{{- '<start_of_turn>' + ('model' if m['role'] == 'assistant' else 'user') + '\n' -}}"
    "{%- if m['role'] == 'user' and ns.system -%}{{- ns.system -}}{%- set ns.system = '' -%}{%- endif -%}"
    "{{- m['content'] + '<end_of_turn>\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}"
)


def ensure_chat_template(tokenizer) -> str:
    """Give the tokenizer the default template if it has none; return 'model' or 'default'."""
    if getattr(tokenizer, "chat_template", None):
        return "model"
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return "default"


def to_chat(messages: list[dict], system: str | None = None) -> list[dict]:
    """Canonical ``messages`` (role/content dicts) plus an optional system prompt, as chat input."""
    out = [{"role": "system", "content": system}] if system else []
    return out + [{"role": m["role"], "content": m["content"]} for m in messages]


def render(tokenizer, messages: list[dict], *, system: str | None = None, add_generation_prompt: bool = False) -> str:
    """The conversation as one string in the tokenizer's (or the default) chat format."""
    ensure_chat_template(tokenizer)
    return tokenizer.apply_chat_template(to_chat(messages, system), tokenize=False, add_generation_prompt=add_generation_prompt)
