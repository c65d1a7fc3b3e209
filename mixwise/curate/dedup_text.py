"""Text preparation for dedup: strip wrappers, normalize, spot short generic prompts.

Everything here is a vectorized polars expression except template unwrapping,
which runs only on the few texts that contain ``###``. Two texts that differ
only in case, whitespace, punctuation or Unicode form normalize to the same
string; a prompt wrapped in the Alpaca template or preceded by a system
preamble ("You are a helpful assistant.", ``<<SYS>>...<</SYS>>``) compares
equal to the bare prompt.
"""

from __future__ import annotations

import polars as pl

from mixwise.curate.templates import unwrap

#: Leading boilerplate removed before comparing (case-insensitive, anchored at the start).
PREAMBLES: tuple[str, ...] = (
    r"(?is)^\s*<<sys>>.*?<</sys>>\s*",
    r"(?is)^\s*<\|system\|>.*?(?:</s>|<\|end\|>|<\|user\|>)\s*",
    r"(?is)^\s*<\|im_start\|>\s*system.*?<\|im_end\|>\s*(?:<\|im_start\|>\s*user\s*)?",
    r"(?i)^\s*\[/?inst\]\s*",
    r"(?i)\s*\[/inst\]\s*$",
    r"(?i)^\s*system\s*:[^\n]*\n+(?:\s*user\s*:\s*)?",
    r"(?i)^\s*you are (?:a|an) (?:[\w-]+,? (?:and )?){0,4}(?:ai )?(?:assistant|chatbot|language model)\b[^.\n]*[.!]?\s*",
    r"(?i)^\s*below is an instruction that describes a task[^\n]*?(?:request|context)\.\s*",
)

#: Words a short prompt may consist of to count as generic ("hi", "continue", "go on please").
GENERIC_WORDS: frozenset[str] = frozenset(
    """hi hello hey hiya yo howdy greetings sup good morning evening afternoon continue cont go on more keep going
    please pls plz thanks thank you thx ty ok okay k yes no yeah yep nope sure next again elaborate expand explain
    further write writing tell me great nice cool test testing help start stop done what why how really wow and then
    finish the rest same exactly correct right it that this a an is so proceed carry resume answer output repeat
    rewrite redo try retry""".split()
)


def strip_wrappers(texts: pl.Series) -> pl.Series:
    """Remove known prompt templates (Alpaca) and system preambles from each text."""
    texts = texts.fill_null("")
    templated = texts.str.contains("###", literal=True)
    if templated.any():
        idx = templated.arg_true()
        payloads = [unwrap(t)[0] for t in texts.gather(idx).to_list()]
        texts = texts.scatter(idx, pl.Series(payloads, dtype=pl.String))
    expr = pl.col("t")
    for pattern in PREAMBLES:
        expr = expr.str.replace(pattern, "")
    return pl.DataFrame({"t": texts}).select(expr)["t"]


def normalize_expr(expr: pl.Expr) -> pl.Expr:
    """Unicode NFKC, lower case, punctuation and symbols to spaces, whitespace collapsed."""
    return (
        expr.fill_null("")
        .str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(r"[\p{P}\p{S}]+", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def normalize(texts: pl.Series) -> pl.Series:
    """Normalized copies of ``texts`` (see :func:`normalize_expr`)."""
    return pl.DataFrame({"t": texts}).select(normalize_expr(pl.col("t")))["t"]


def is_short_generic(normalized: pl.Series, max_words: int = 3) -> pl.Series:
    """True for normalized prompts of at most ``max_words`` words, all of them generic ("hi", "continue")."""
    words = normalized.str.split(" ")
    generic = pl.Series(list(GENERIC_WORDS), dtype=pl.String)
    df = pl.DataFrame({"w": words})
    return df.select(
        (pl.col("w").list.len() <= max_words)
        & (pl.col("w").list.first() != "")
        & pl.col("w").list.eval(pl.element().is_in(generic.implode())).list.all()
    )["w"]


def conversation_tail(messages: pl.Series) -> pl.Series:
    """The turns after the first exchange, joined (empty for single-turn rows); part of the exact key."""
    return pl.DataFrame({"m": messages}).select(
        pl.col("m").list.slice(2).list.eval(pl.element().struct.field("content")).list.join("\n").fill_null("")
    )["m"]


def prepare(df: pl.DataFrame, *, strip: bool = True, short_words: int = 3) -> pl.DataFrame:
    """Per row: normalized prompt ``p``, response ``r``, conversation tail ``tail`` and ``short_generic``."""
    prompt, response = df["prompt"], df["response"]
    if strip:
        prompt, response = strip_wrappers(prompt), strip_wrappers(response)
    p, r = normalize(prompt), normalize(response)
    # Later turns only decide exactness, so they are compared as ingested (NFC, trimmed), not re-normalized.
    tail = conversation_tail(df["messages"]) if "messages" in df.columns else pl.Series([""] * df.height)
    return pl.DataFrame({"p": p, "r": r, "tail": tail, "short_generic": is_short_generic(p, short_words)})
