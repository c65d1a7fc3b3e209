"""Rich views of duplicates: the per-source report table and one group side by side (``mixwise dedup``, ``dups show``, the demo)."""

from __future__ import annotations

from rich.table import Table

from mixwise.curate.dedup import KINDS


def _clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_group(group: str, members: list[dict], max_members: int = 4, clip: int = 280) -> Table:
    """Members side by side: one column each, rows for the evidence and the text."""
    shown = members[:max_members]
    more = f" (+{len(members) - len(shown)} more; --json lists all)" if len(members) > len(shown) else ""
    table = Table(title=f"duplicate group {group}: {len(members)} members{more}", show_lines=True)
    table.add_column("", style="bold")
    for m in shown:
        table.add_column(f"{m['id']} [{m['source']}]", overflow="fold", ratio=1)
    rows = [
        ("role", lambda m: m["role"] + ("" if m["dup_kind"] is None else f": {m['dup_kind']}")),
        ("keep", lambda m: "yes" if m["dup_keep"] else "no"),
        ("same prompt / response / later turns",
         lambda m: " / ".join("yes" if m[k] else "no" for k in ("same_prompt", "same_response", "same_later_turns"))),
        ("Jaccard pair (prompt, resp.)", lambda m: f"{m['jaccard']:.2f} ({m['jaccard_prompt']:.2f}, {m['jaccard_response']:.2f})"),
        ("prompt cosine", lambda m: "-" if m["cosine"] is None else f"{m['cosine']:.3f}"),
        ("prompt", lambda m: _clip(m["prompt"], clip)),
        ("response", lambda m: _clip(m["response"], clip)),
    ]
    for label, fn in rows:
        table.add_row(label, *[fn(m) for m in shown])
    return table


def render_report(report: dict, title: str = "duplicates by source") -> Table:
    """The per-source report as a rich table: one column per source plus the total, one row per measure."""
    records = [*report["sources"], report["total"]]
    table = Table(title=f"{title} ({report['groups']:,} groups)", caption="duplicates = rows other than their group's kept one")
    table.add_column("")
    for rec in records:
        table.add_column(rec["source"], justify="right", style="bold" if rec["source"] == "total" else None)
    for measure in ["rows", *KINDS, "duplicates", "within_source", "cross_source", "survivors"]:
        label = measure.replace("_", " ")
        table.add_row(label if measure in ("rows", "survivors", "duplicates") else f"  {label}", *[f"{r[measure]:,}" for r in records],
                      end_section=measure in ("rows", "same_response", "cross_source"))
    return table
