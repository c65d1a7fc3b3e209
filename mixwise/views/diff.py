"""Rich views of mixtures: the side-by-side diff (``mixwise diff``) and the manifest tree (``mix``, ``manifest show``).

Both render onto any :class:`rich.console.Console`; tests render to a
fixed-width in-memory console (``Console(width=120, record=True,
file=io.StringIO())``) and check the text. An axis a manifest did not record is
shown as "not recorded", never as zeros.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from mixwise.records import Manifest, not_recorded_hint

BAR_WIDTH = 14
_PARTIAL = " ▏▎▍▌▋▊▉"


def bar(share: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``share`` (0..1) of ``width`` cells, with eighth-cell resolution."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_PARTIAL[part] if part else "")).ljust(width)


def _delta(v: float, fmt: str = "{:+,}") -> Text:
    if round(v, 1) == 0:
        return Text("·", style="dim")
    return Text(fmt.format(v), style="green" if v > 0 else "red")


def _ref(s: dict) -> str:
    return f"{s['name']}@{s['version']}"


def _header(d: dict) -> Panel:
    a, b = d["a"], d["b"]
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("A", f"{_ref(a)}  {a['samples']:,} samples, {a['tokens']:,} tokens")
    t.add_row("B", f"{_ref(b)}  {b['samples']:,} samples, {b['tokens']:,} tokens")
    t.add_row("lineage", d["relation"])
    m = d["membership"]
    t.add_row("samples", f"kept {m['kept']:,}  [green]added {m['added']:,}[/]  [red]removed {m['removed']:,}[/]"
              f"  (unique: A {m['a_unique']:,}, B {m['b_unique']:,})")
    if d["spec_changed"]:
        t.add_row("spec", "changed: " + ", ".join(d["spec_changed"]))
    return Panel(t, title="mixwise diff", title_align="left")


def _composition(dim: str, rows: list[dict], limit: int = 15) -> Table:
    t = Table(title=f"by {dim}", title_justify="left", show_edge=False, pad_edge=False)
    t.add_column(dim)
    t.add_column("A", justify="right")
    t.add_column("", no_wrap=True, style="cyan")
    t.add_column("B", justify="right")
    t.add_column("", no_wrap=True, style="magenta")
    t.add_column("Δ samples", justify="right")
    t.add_column("Δ tokens", justify="right")
    for r in rows[:limit]:
        name = r["key"] + (f" {r['label']}" if r["label"] else "")
        t.add_row(name[:32], f"{r['a_samples']:,}", bar(r["a_share"]), f"{r['b_samples']:,}", bar(r["b_share"]),
                  _delta(r["delta_samples"]), _delta(r["delta_tokens"]))
    if len(rows) > limit:
        t.add_row(f"… {len(rows) - limit} more", "", "", "", "", "", "")
    return t


def _length(d: dict) -> Group:
    t = Table(title="length shift (p10 / p50 / p90)", title_justify="left", show_edge=False, pad_edge=False)
    for col, just in (("measure", "left"), ("A", "right"), ("B", "right"), ("Δ median", "right"), ("Δ mean", "right")):
        t.add_column(col, justify=just)
    for name, v in d["length"].items():
        a, b = v["a"], v["b"]
        if not a and not b:
            continue
        q = lambda x: f"{x.get('p10', 0):,.0f} / {x.get('p50', 0):,.0f} / {x.get('p90', 0):,.0f}"  # noqa: E731
        t.add_row(name, q(a), q(b), _delta(v["delta_p50"], "{:+,.0f}"), _delta(v["delta_mean"], "{:+,.1f}"))
    h = d["response_chars_histogram"]
    ht = Table(title="response length histogram (chars)", title_justify="left", show_edge=False, pad_edge=False)
    ht.add_column("bucket")
    ht.add_column("A", no_wrap=True, style="cyan")
    ht.add_column("B", no_wrap=True, style="magenta")
    edges, ca, cb = h["edges"], h["a"], h["b"]
    ta, tb = sum(ca) or 1, sum(cb) or 1
    peak = max([x / ta for x in ca] + [x / tb for x in cb] + [1e-9])
    for i, lo in enumerate(edges):
        if i >= len(ca) or (not ca[i] and not cb[i]):
            continue
        label = f"{lo:,}–{edges[i + 1]:,}" if i + 1 < len(edges) else f"{lo:,}+"
        ht.add_row(label, f"{bar(ca[i] / ta / peak, 10)} {ca[i] / ta:4.0%}", f"{bar(cb[i] / tb / peak, 10)} {cb[i] / tb:4.0%}")
    return Group(t, Text(""), ht)


def _dedup(d: dict) -> Group | Text:
    dd = d["dedup"]
    if not dd["a_drop"] and not dd["b_drop"] and not dd["added_flagged"] and not dd["removed_flagged"] and not dd["changed"]:
        return Text("dedup: no duplicate policy in either mixture", style="dim")
    lines = [Text(f"dedup policy: A drops {dd['a_drop'] or 'nothing'}, B drops {dd['b_drop'] or 'nothing'}"
                  + ("  (changed)" if dd["a_drop"] != dd["b_drop"] else ""))]
    if dd["dropped"]:
        t = Table(show_edge=False, pad_edge=False)
        for col in ("kind", "A dropped", "B dropped", "Δ"):
            t.add_column(col, justify="left" if col == "kind" else "right")
        for r in dd["dropped"]:
            t.add_row(r["kind"], f"{r['a']:,}", f"{r['b']:,}", _delta(r["b"] - r["a"]))
        lines.append(t)
    for what, key in (("added", "added_flagged"), ("removed", "removed_flagged")):
        if dd[key]:
            lines.append(Text(f"{what} rows flagged as duplicates: " + ", ".join(f"{k} {v}" for k, v in dd[key].items())))
    if dd["changed"]:
        lines.append(Text(f"rows in both whose duplicate decision changed: {dd['changed']:,}"))
    return Group(*lines)


def _examples(d: dict, width: int) -> Group:
    lines = []
    for sign, key, style in (("+", "added", "green"), ("-", "removed", "red")):
        for ex in d["examples"][key]:
            prompt = " ".join(ex["prompt"].split())
            room = max(20, width - len(ex["source"]) - 8)
            lines.append(Text(f"{sign} [{ex['source']}] " + (prompt[:room] + "…" if len(prompt) > room else prompt), style=style))
    return Group(*lines) if lines else Group(Text("no added or removed samples", style="dim"))


def render_diff(d: dict, console: Console) -> None:
    """Print the diff dict from :func:`mixwise.mixing.diff.diff_manifests`."""
    console.print(_header(d))
    for dim, rows in d["composition"].items():
        if rows:
            console.print(_composition(dim, rows))
            console.print()
    for dim, info in d["not_recorded"].items():
        side = d[info["missing_in"].lower()]
        console.print(Text(f"by {dim}: not recorded in {info['missing_in']} ({_ref(side)}); {info['hint']} "
                           f"to compare {dim}", style="yellow"))
        console.print()
    console.print(_length(d))
    console.print()
    console.print(_dedup(d))
    console.print()
    console.rule("example prompts", align="left", style="dim")
    console.print(_examples(d, console.width))


def manifest_tree(m: Manifest) -> Tree:
    """A manifest's composition as a tree with fingerprints; axes it did not record say so."""
    c = m.counts
    root = Tree(f"[bold]{escape(m.ref)}[/]  {c.samples:,} samples ({c.unique_samples:,} unique), "
                f"{c.tokens:,} tokens (estimate: {m.token_estimate})")
    info = root.add("[bold]build[/]")
    info.add(f"seed {m.seed}, parent {m.parent or '(none)'}, created {m.created_at}, mixwise {m.tool['mixwise']}")
    if m.description:
        info.add(escape(m.description.splitlines()[0]))
    comps = root.add("[bold]components[/]")
    for r in c.components:
        req = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in r.requested.items())
        short = f"  [red]short by {r.shortfall:,} {r.shortfall_unit}[/]" if r.shortfall else ""
        node = comps.add(f"{escape(r.name)}  {r.strategy}, asked {req}: {r.selected:,} samples, {r.tokens:,} tokens "
                         f"(of {r.available:,} available){short}")
        if r.per_source:  # FLAN-style split: the rate, then per source its rows, rate and resolved count
            ps = r.per_source
            how = f"rate min(n, {ps['cap']:,})" if ps["rate"] == "examples_proportional" else (
                f"rate {'min(n, ' + format(ps['cap'], ',') + ')' if ps.get('cap') else 'n'} ^ (1/{ps['temperature']:g})")
            sub = node.add(f"per source ({ps['rate']}, {how})")
            for src, n in ps["resolved"].items():
                sub.add(f"{escape(src)}  {n:,} of {ps['available'][src]:,} rows (rate {ps['rates'][src]:,.1f})")
    for axis, title in (("source", "sources"), ("style", "styles"), ("cluster", "clusters"), ("quality", "quality")):
        groups = m.composition.axis(axis)
        if groups is None:
            root.add(f"[bold]{title}[/]  [yellow]not recorded[/] (the {axis} stage had not run); {not_recorded_hint(axis)}")
            continue
        node = root.add(f"[bold]{title}[/]")
        total = sum(v.samples for v in groups.values()) or 1
        fps = m.inputs.sources if axis == "source" else {}
        for k, v in sorted(groups.items(), key=lambda kv: -kv[1].samples)[:20]:
            fp = f"  [dim]fingerprint {fps[k].fingerprint[:12]}[/]" if k in fps else ""
            label = f" {v.label}" if v.label else ""
            node.add(f"{escape(k + label)}  {v.samples:,} ({v.samples / total:.0%}), {v.tokens:,} tokens{fp}")
    if m.inputs.stages:
        node = root.add("[bold]stages[/]")
        for s, v in m.inputs.stages.items():
            node.add(f"{s}  config {str(v.config_hash)[:12]}" + ("" if v.fresh else "  [yellow](stale: ran on other data)[/]"))
    dd = m.dedup
    if dd.drop:
        root.add(f"[bold]dedup[/] drop {dd.drop}: removed {dd.dropped_total:,} rows " + escape(str(dd.dropped)))
    ln = m.composition.length
    root.add(f"[bold]length[/] response chars p50 {ln.response_chars.p50:,.0f} (p90 {ln.response_chars.p90:,.0f}), "
             f"tokens/sample p50 {ln.n_tokens_est.p50:,.0f}")
    return root
