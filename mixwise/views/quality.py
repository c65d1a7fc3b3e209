"""Rich view of the quality signals: the per-source table and one example per signal (``mixwise quality``, the demo)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table


def render_quality(view: dict[str, Any], console, *, examples: bool = True) -> None:
    """The per-source table of ``quality_view`` (and one example per signal)."""
    table = Table(title="quality signals by source", show_edge=False)
    for col in ("source", "rows", "refusal", "truncated", "flagged", "repetitive", "non-Latin"):
        table.add_column(col, justify="left" if col == "source" else "right")

    def pct(n: int, d: int) -> str:
        return f"{n:,} ({n / d:.1%})" if d else "0"

    rows = list(view["by_source"].items()) + ([("total", view["total"])] if len(view["by_source"]) > 1 else [])
    for name, v in rows:
        table.add_row(name, f"{v['rows']:,}", pct(v["refusal"], v["rows"]), pct(v["truncated"], v["rows"]),
                      pct(v["any"], v["rows"]), pct(v["repetition"], v["rows"]), pct(v["non_latin"], v["rows"]))
    console.print(table)
    console.print("[dim]flagged = refusal or truncated (q_flags > 0). Not flags, scores: repetitive = q_repetition >= 0.5; "
                  "non-Latin = under half the letters ASCII (q_latin_share < 0.5). "
                  "Drop flagged rows in a spec with score: {q_flags: {max: 0}}[/]")
    if examples:
        for name, exs in view["examples"].items():
            for ex in exs[:1]:
                console.print(f"[bold]{name}[/] e.g. {ex['id']} ({ex['source']}): {escape(repr(ex['snippet'] or ''))}",
                              highlight=False)
