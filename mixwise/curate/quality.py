"""Quality signals: cheap, transparent per-row flags that instruction-data cleaning needs.

Scraped chat data carries defects that no topic or style view shows: the
assistant refusing or disclaiming ("As an AI language model, I cannot ..."),
answers cut off mid-sentence where the scrape stopped, answers that loop on the
same lines, and text in another script than the rest of the mix. Each signal is
a column of the ``quality`` stage, computed with vectorized polars string
expressions over every assistant turn (so 1M rows take seconds). Signals are
scores, not decisions: a spec drops rows with a filter such as
``score: {q_flags: {max: 0}}`` or ranks them with ``strategy: top, by: ...``.

Columns (all assistant turns of a conversation are read, joined by newlines):

- ``q_refusal`` (Int8, 0/1): a refusal or AI self-disclaimer phrase
  (:data:`REFUSAL_PATTERN`).
- ``q_truncated`` (Int8, 0/1): the last assistant turn looks cut off: an
  unclosed code fence, or a last line of prose (8+ words, not a list item, no
  closing punctuation) that stops on a word no sentence ends with ("the",
  "of", "because" ...) or a comma, or that ends a long answer (1,000+
  characters) on a lowercase word.
- ``q_repetition`` (Float32, 0..1): in the worst assistant turn, the share of
  prose lines (outside code fences, 20+ characters, starting with a letter, no
  ``= ; { } < >``, 5+ words) that repeat an
  earlier such line of the same turn; turns with fewer than 4 such lines count
  as 0. Tables, lists, markup and code repeat lines legitimately and are not
  counted.
- ``q_latin_share`` (Float32, 0..1, null without letters): the share of letters
  (prompt and answers) that are ASCII Latin, a script proxy, not language ID.
- ``q_flags`` (Int8): ``q_refusal + q_truncated``. Repetition is left out of
  it: on real ShareGPT the rows it scores high are mostly code, song lyrics and
  templates, not degenerate answers (docs/quality.md has the numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from mixwise.curate.ids import string_offsets
from mixwise.schema import full_messages
from mixwise.workspace import Workspace

STAGE = "quality"
#: Bump when a signal's definition changes: part of the stage config, so a new rule re-runs the stage.
VERSION = 1

_APOS = "['’]"
#: Refusals and AI self-disclaimers (Rust regex, case-insensitive), written for this project.
REFUSAL_PATTERN = (
    r"(?i)\b(?:"
    r"as an ai(?: language model| assistant| model)?\b|as a (?:large )?language model\b"
    rf"|i(?:{_APOS}m| am) (?:just |only )?(?:an ai|a (?:large )?language model|a text-based ai)\b"
    rf"|i(?:{_APOS}m| am) sorry,? but (?:i|as an ai)\\b"
    rf"|i (?:cannot|can{_APOS}t|can not|am unable to|{_APOS}m unable to|am not able to|{_APOS}m not able to) "
    r"(?:provide|assist|help with|fulfill|comply|browse|access the internet|generate|create|write|engage|answer|give)\b"
    rf"|i do(?: not|n{_APOS}t) have (?:personal |the ability to )?(?:opinions|feelings|beliefs|emotions|preferences|browse"
    r"|access to (?:the internet|real-time|current))"
    r"|my (?:knowledge|training data)(?: cutoff| cut-off| is limited| only goes)"
    r"|(?:knowledge|training) cut-?off"
    r")"
)
#: A last line that is a list item, table row, heading, quote or code-ish line is not judged for truncation.
_NOT_PROSE = r"^\s*(?:[-*+•|>#]|\d{1,3}[.)]|`|\$|<)"
#: Characters a finished last line may end with.
_CLOSED_END = r"[.!?:;)\]}\"'’”»`*_~>…。！？）]\s*$"

#: The repetition share from which the view counts a row as repetitive (not a flag: see q_flags).
REPEAT_FLAG = 0.5
#: A prose line: starts with a letter, has no code characters (= ; { } < >) and 5+ words; code fences are
#: removed first (tables, lists, markup and code repeat lines legitimately).
_PROSE_LINE = r"^\p{L}[^=;{}<>]*$"
#: Prose lines an assistant turn needs before its repetition share counts.
MIN_LINES = 4
#: Characters from which an answer counts as long for the truncation rule.
LONG_ANSWER = 1000
#: Words an English sentence does not end with: articles, prepositions, conjunctions, auxiliaries, determiners.
_NO_END_WORDS = frozenset(
    "a an the of to in on for with by from at as and or but nor if than that which who whom whose when where while "
    "because although though since until unless into onto about between through during before after is are was were "
    "be been being am has have had does did will would shall should can could may might must this these those its "
    "their his our your my such very also".split()
)


@dataclass
class QualityReport:
    """What the stage computed (or found fresh)."""

    rows: int
    flagged: dict[str, int] = field(default_factory=dict)
    skipped: bool = False


def _assistant_turns(columns: list[str]) -> pl.Expr:
    """Every assistant turn of a row, as a list of strings."""
    return (full_messages(columns)
            .list.eval(pl.element().filter(pl.element().struct.field("role") == "assistant").struct.field("content")))


def signal_columns(table: pl.DataFrame) -> pl.DataFrame:
    """The quality columns (with ``id``) for a sample table."""
    cols = table.columns
    base = table.select("id", _assistant_turns(cols).alias("_turns"), *[c for c in ("prompt", "system") if c in cols]).select(
        "id", "_turns",
        pl.col("_turns").list.join("\n").fill_null("").alias("_answers"),
        pl.col("_turns").list.last().fill_null("").str.strip_chars().alias("_last"),
        (pl.col("prompt").fill_null("") + "\n" + (pl.col("system").fill_null("") if "system" in cols else pl.lit(""))).alias("_prompt"),
    )
    last_line = pl.col("_last").str.split("\n").list.last().fill_null("")
    fence_open = (pl.col("_last").str.count_matches("```") % 2) == 1
    open_prose = (
        (last_line.str.count_matches(r"\S+") >= 8)
        & ~last_line.str.contains(_NOT_PROSE)
        & ~last_line.str.contains(_CLOSED_END)
    )
    raw_last_word = last_line.str.extract(r"(\S+)\s*$")
    last_word = raw_last_word.str.to_lowercase()
    # Cut mid-sentence: on a word no sentence ends with, or a comma; or a long answer stopping on a lowercase word
    # (the scrape's length limit). Short human answers without a final period (Dolly, Alpaca) are left alone.
    prose_cut = open_prose & (
        last_word.is_in(list(_NO_END_WORDS)) | last_line.str.contains(r",\s*$")
        | ((pl.col("_last").str.len_chars() >= LONG_ANSWER) & raw_last_word.str.contains(r"^[a-z]+$"))
    )
    text = base.select((pl.col("_prompt") + "\n" + pl.col("_answers")).alias("t"))["t"]
    latin = pl.Series("latin", ascii_letters(text))
    other = text.str.count_matches(r"[\p{L}&&[^\x00-\x7F]]")  # few matches in mostly-ASCII text: fast
    letters = latin + other
    out = base.with_columns(
        pl.col("_answers").str.contains(REFUSAL_PATTERN).cast(pl.Int8).alias("q_refusal"),
        (fence_open | prose_cut).fill_null(False).cast(pl.Int8).alias("q_truncated"),
        pl.when(letters > 0).then(latin / letters).otherwise(None).cast(pl.Float32).alias("q_latin_share"),
    )
    out = out.with_columns(_repetition(out).alias("q_repetition"))
    out = out.with_columns((pl.col("q_refusal") + pl.col("q_truncated")).cast(pl.Int8).alias("q_flags"))
    return out.select("id", "q_refusal", "q_truncated", "q_repetition", "q_latin_share", "q_flags")


_ASCII_LETTER = np.zeros(256, dtype=np.int64)
_ASCII_LETTER[[*range(ord("A"), ord("Z") + 1), *range(ord("a"), ord("z") + 1)]] = 1


def ascii_letters(texts: pl.Series) -> np.ndarray:
    """Per string, how many ASCII letters it holds: one table lookup over the UTF-8 bytes and a segmented sum.

    (A regex counting letter by letter took 2.9x as long on 46 MB of real text.)
    """
    arr = texts.fill_null("").to_arrow(compat_level=pl.CompatLevel.oldest())
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = string_offsets(arr).astype(np.int64)
    if arr.buffers()[2] is None or offsets[-1] == offsets[0]:
        return np.zeros(n, dtype=np.int64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    csum = np.concatenate([[0], np.cumsum(_ASCII_LETTER[data[offsets[0] : offsets[-1]]])])
    rel = offsets - offsets[0]
    return csum[rel[1:]] - csum[rel[:-1]]


def _repetition(df: pl.DataFrame) -> pl.Series:
    """Per row, the worst assistant turn's share of repeated prose lines (20+ characters, compared stripped).

    Turns are judged one by one: a coding conversation that re-sends its updated
    code in every turn repeats lines across turns, which is normal; an answer
    that loops on its own lines is not. Turns with fewer than ``MIN_LINES`` such
    lines count as 0.
    """
    turns = (df.select(pl.int_range(pl.len()).alias("row"), pl.col("_turns"))
             .explode("_turns")
             .with_columns(pl.int_range(pl.len()).over("row").alias("turn"))
             .select("row", "turn", pl.col("_turns").fill_null("").str.replace_all(r"(?s)```.*?(?:```|\z)", "\n")
                     .str.split("\n").alias("line")))
    lines = (turns.explode("line")
             .with_columns(pl.col("line").str.strip_chars())
             .filter((pl.col("line").str.len_chars() >= 20) & pl.col("line").str.contains(_PROSE_LINE)
                     & (pl.col("line").str.count_matches(r"\S+") >= 5)))
    per_turn = (lines.group_by("row", "turn", "line").len()
                .group_by("row", "turn").agg(pl.col("len").sum().alias("total"), (pl.col("len") - 1).sum().alias("repeats"))
                .filter(pl.col("total") >= MIN_LINES)
                .group_by("row").agg((pl.col("repeats") / pl.col("total")).max().alias("share")))
    full = pl.DataFrame({"row": pl.int_range(df.height, eager=True)}).join(per_turn, on="row", how="left", maintain_order="left")
    return full["share"].fill_null(0.0).cast(pl.Float32)


def config() -> dict[str, Any]:
    """Every rule constant the columns depend on: changing any of them makes the stored stage stale."""
    return {"version": VERSION, "refusal": REFUSAL_PATTERN, "not_prose": _NOT_PROSE, "closed_end": _CLOSED_END,
            "prose_line": _PROSE_LINE, "min_lines": MIN_LINES, "long_answer": LONG_ANSWER,
            "no_end_words": sorted(_NO_END_WORDS)}


def score_workspace(ws: Workspace, *, force: bool = False) -> QualityReport:
    """Compute the quality stage for every sample (a fresh stage is reused unless ``force``)."""
    cfg = config()
    if not force and ws.stage_is_fresh(STAGE, cfg):
        cols = ws.read_columns(STAGE)
        return QualityReport(cols.height, _flag_counts(cols), skipped=True)
    wanted = ["id", "prompt", "response", "system", "messages"]
    table = ws.samples(columns=wanted)
    cols = signal_columns(table)
    ws.write_columns(STAGE, cols, cfg)
    return QualityReport(cols.height, _flag_counts(cols))


#: Rows whose letters are less than this share ASCII Latin count as "non-Latin" in the view.
NON_LATIN = 0.5


def _flag_counts(cols: pl.DataFrame) -> dict[str, int]:
    return {"refusal": int(cols["q_refusal"].sum()), "truncated": int(cols["q_truncated"].sum()),
            "repetition": int((cols["q_repetition"] >= REPEAT_FLAG).sum()), "any": int((cols["q_flags"] > 0).sum()),
            "non_latin": int((cols["q_latin_share"] < NON_LATIN).sum())}


def quality_view(ws: Workspace) -> dict[str, Any]:
    """Per source: rows and counts of each signal; the first two flagged examples per signal (by id)."""
    from mixwise.errors import MixwiseError

    if ws.stage_meta(STAGE) is None:
        raise MixwiseError("the quality stage has not run in this workspace", "run: mixwise quality")
    scored = ws.scored()
    t = scored.select("id", "source", "prompt", "q_refusal", "q_truncated", "q_repetition", "q_latin_share", "q_flags")
    by_source = {}
    for src in sorted(t["source"].unique().to_list()):
        s = t.filter(pl.col("source") == src)
        by_source[src] = {"rows": s.height, **_flag_counts(s)}
    examples = {}
    answers = scored.select("id", _assistant_turns(scored.columns).alias("_turns"))
    refusal_in_context = "(?i)(.{0,60}" + REFUSAL_PATTERN.removeprefix("(?i)") + ".{0,40})"
    snippets = {
        "refusal": pl.col("_turns").list.join("\n").str.replace_all("\n", " ").str.extract(refusal_in_context),
        "truncated": pl.col("_turns").list.last().str.strip_chars().str.slice(-120),
        "repetition": pl.col("_turns").list.join("\n").str.slice(0, 120),
    }
    for name, cond in (("refusal", pl.col("q_refusal") == 1), ("truncated", pl.col("q_truncated") == 1),
                       ("repetition", pl.col("q_repetition") >= REPEAT_FLAG)):
        ex = t.filter(cond).sort("id").head(2).join(answers, on="id", how="left").with_columns(snippets[name].alias("snippet"))
        examples[name] = [{"id": r["id"], "source": r["source"], "prompt": r["prompt"][:120], "snippet": r["snippet"]}
                          for r in ex.iter_rows(named=True)]
    return {"by_source": by_source, "examples": examples, "total": {"rows": t.height, **_flag_counts(t)}}


__all__ = ["REFUSAL_PATTERN", "QualityReport", "STAGE", "ascii_letters", "config", "quality_view",
           "score_workspace", "signal_columns"]
