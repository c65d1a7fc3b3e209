"""Rich rendering of studies: the plan, the list of studies, one study's cells, its fit, and ablate's progress.

Scores are shown as fractions with their 95% intervals and item counts;
differences from the base cell in points (``+1.2 pts``); a task that is a
judge-free proxy says ``(proxy)`` wherever it appears.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mixwise.records.study import Step, StudyFitRecord, StudyRecord


def pts(x: float | None) -> str:
    return "-" if x is None else f"{round(x * 100, 1) + 0.0:+.1f}"


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def shares_text(shares: dict[str, float] | None) -> str:
    if not shares:
        return "-"
    return ", ".join(f"{k} {v:.0%}" for k, v in shares.items() if v > 0) or "-"


def task_label(name: str, proxy: bool) -> str:
    return f"{name} (proxy)" if proxy else name


# -- plan ------------------------------------------------------------------------------------------------


def render_plan(plan, console: Console) -> None:
    s = plan.study
    design = s.vary.design + (f" of {s.vary.component}" if s.vary.component else "")
    console.print(f"study [bold]{escape(s.name)}[/]: {design}, {len(plan.cells)} cells x {s.replicates} replicates = "
                  f"{plan.trainings} trainings of {escape(s.train['model'])} ({escape(s.train['recipe'])}), "
                  f"{plan.evaluations} evaluations")
    t = Table(title="cells (selected now; nothing written)", box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("cell", "composition", "samples", "tokens (est.)", "trained tokens", "short"):
        t.add_column(col, justify="left" if col in ("cell", "composition", "short") else "right", overflow="fold")
    for c in plan.cells:
        short = ", ".join(f"{k} -{v}" for k, v in c.shortfall.items()) or ""
        t.add_row(escape(c.id), escape(shares_text(c.shares)), f"{c.samples:,}", f"{c.tokens:,}", f"{c.train_tokens:,}",
                  f"[yellow]{escape(short)}[/]" if short else "")
    console.print(t)
    when = f"about {hms(plan.seconds)} of training" if plan.seconds else "no time estimate"
    console.print(f"{plan.tokens:,} tokens to train in all: {when}; speed: {escape(plan.speed)} (evaluations not included)")
    if plan.power:
        p = Table(title="smallest detectable difference from the base cell, 80% power (points)", box=box.SIMPLE_HEAD,
                  title_justify="left")
        for col in ("task", "items", "seed SD", "item diff SD", "from", "at 5%", f"at 5%/{len(plan.power)} (BH)"):
            p.add_column(col, justify="left" if col in ("task", "from") else "right")
        for r in plan.power:
            p.add_row(escape(r.task), str(r.items or "?"), f"{r.seed_sd:.3f}", f"{r.diff_sd:.2f}", r.source,
                      f"{r.mde * 100:.1f}" if r.mde else "?", f"{r.mde_bh * 100:.1f}" if r.mde_bh else "?")
        console.print(p)
    for note in plan.notes:
        console.print(f"[dim]{escape(note)}[/]")


# -- studies ---------------------------------------------------------------------------------------------


def study_status(record: StudyRecord) -> dict[str, Any]:
    """Counts, elapsed compute and an ETA (mean seconds of done steps per kind x pending steps of that kind)."""
    counts = record.counts()
    done = [s for s in record.steps if s.done and s.seconds is not None]
    mean = {k: sum(s.seconds for s in done if s.kind == k) / n for k in ("mix", "train", "eval")
            if (n := sum(1 for s in done if s.kind == k))}
    todo = [s for s in record.steps if s.status in ("pending", "running")]
    unknown = sorted({s.kind for s in todo if s.kind not in mean})
    eta = sum(mean.get(s.kind, 0.0) for s in todo) if todo else 0.0
    cells_done = sum(1 for c in record.cells if all(s.done for s in record.steps if s.cell == c.id))
    return {"name": record.name, "cells": len(record.cells), "cells_done": cells_done, **counts,
            "steps": len(record.steps), "elapsed_s": round(sum(s.seconds for s in done), 1),
            "eta_s": None if unknown else round(eta, 1), "eta_unknown_for": unknown, "updated_at": record.updated_at}


def render_studies(rows: list[dict], console: Console) -> None:
    if not rows:
        console.print("no studies yet; start one with: mixwise ablate STUDY.yaml --plan")
        return
    t = Table(box=box.SIMPLE_HEAD)
    for col in ("study", "cells", "done", "failed", "pending", "compute", "ETA", "state"):
        t.add_column(col, justify="left" if col in ("study", "state") else "right", overflow="fold")
    for r in rows:
        eta = hms(r["eta_s"]) if r["eta_s"] is not None else ("?" if r["pending"] + r["running"] else "-")
        state = f"running ({escape(r['running_by'])})" if r.get("running_by") else ("complete" if not (r["pending"] or r["running"] or r["failed"]) else
                                                                           "has failures" if r["failed"] else "stopped")
        t.add_row(escape(r["name"]), f"{r['cells_done']}/{r['cells']}", f"{r['done']}/{r['steps']}", str(r["failed"]),
                  str(r["pending"] + r["running"]), hms(r["elapsed_s"]), eta, state)
    console.print(t)


# -- show and fit ------------------------------------------------------------------------------------------


def render_show(record: StudyRecord, data: dict, console: Console) -> None:
    """Per cell: composition, replicates, steps; per task: mean with interval and the paired delta from the base cell."""
    console.print(f"study [bold]{escape(record.name)}[/] ({escape(record.spec_path)}), base mixture "
                  f"{escape(record.base.name + '@' + record.base.version) if record.base else '-'}")
    t = Table(title="cells", box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("cell", "composition (realised)", "manifest", "steps", "state"):
        t.add_column(col, overflow="fold")
    for c in record.cells:
        steps = [s for s in record.steps if s.cell == c.id]
        n_done = sum(s.done for s in steps)
        failed = [s for s in steps if s.status == "failed"]
        state = (f"[red]failed[/]: {escape(failed[0].id)}: {escape(failed[0].error or '')}" if failed else
                 "done" if n_done == len(steps) else "pending")
        man = f"{c.manifest.name}@{c.manifest.version}" if c.manifest else "-"
        t.add_row(escape(c.id) + (" (proposed)" if c.origin == "proposed" else ""), escape(shares_text(c.parts or c.shares)),
                  escape(man), f"{n_done}/{len(steps)}", state)
    console.print(t)
    if not data.get("tasks"):
        console.print(f"[dim]no scores yet: {escape(data.get('why', 'no cell has finished its evaluations'))}[/]")
        return
    cells = data["cells"]
    s = Table(title="scores: cell mean [95% CI] over items and replicates; delta vs base in points [95% CI]; q: BH over all "
                    "cell x task differences", box=box.SIMPLE_HEAD, title_justify="left")
    s.add_column("task", overflow="fold")
    s.add_column("n", justify="right")
    for c in cells:
        s.add_column(c, justify="right", overflow="fold")
    for name, t_ in data["tasks"].items():
        s.add_row(escape(task_label(name, t_["proxy"])), str(t_["n_items"]),
                  *[f"{t_['mean'][i]:.3f} [{t_['lo'][i]:.3f}, {t_['hi'][i]:.3f}]" for i in range(len(cells))])
        s.add_row("", "", *["base" if c == "base" else
                            f"{pts(t_['delta'][i])} [{pts(t_['delta_lo'][i])}, {pts(t_['delta_hi'][i])}] q={_q(t_['delta_q'][i])}"
                            for i, c in enumerate(cells)])
    console.print(s)
    for name, t_ in data["tasks"].items():
        if t_["unpaired_items"]:
            console.print(f"[yellow]{escape(name)}: {t_['unpaired_items']} items were not scored by every replicate and are left out[/]")
        sd = t_["replicate_sd"]
        console.print(f"[dim]{escape(task_label(name, t_['proxy']))}: seed SD {sd * 100:.2f} pts ({t_['replicate_df']} df), "
                      f"item SE {min(x for x in t_['item_se'] if x is not None) * 100:.2f}-{max(x for x in t_['item_se'] if x is not None) * 100:.2f} pts per cell[/]"
                      if sd is not None else f"[dim]{escape(name)}: one replicate per cell: no seed noise estimate[/]")
    for cid, why in data.get("missing", {}).items():
        console.print(f"[yellow]cell {escape(cid)} has no scores[/]: {escape(why)}")


def _q(q: float | None) -> str:
    return "-" if q is None else f"{q:.2f}" if q >= 0.01 else "<.01"


def render_fit(fit: StudyFitRecord, console: Console) -> None:
    """Fit quality per task, the coefficients, what moved beyond noise, and the proposed mixture."""
    n_tasks = len(fit.tasks)
    console.print(f"fit of study [bold]{escape(fit.study)}[/] over {len(fit.cells)} cells "
                  f"({', '.join(fit.cells)}); variables: {escape(', '.join(fit.variables))}; {fit.draws} bootstrap draws "
                  "(items and replicates resampled)")
    t = Table(title="per task: chosen model by leave-one-cell-out CV (rho: Spearman of predicted vs observed cell means)",
              box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("task", "model", "CV rho", "CV RMSE (pts)", "coefficients: score of a pure mixture [95% CI]", "seed SD (pts)", "q (any cell != base)"):
        t.add_column(col, justify="left" if col in ("task", "model", "coefficients: score of a pure mixture [95% CI]") else "right",
                     overflow="fold")
    for name, tr in fit.tasks.items():
        label = escape(task_label(name, tr.proxy))
        if tr.model is None:
            t.add_row(label, "[yellow]refused[/]", "-", "-", escape(tr.refused or ""), _sd(tr.replicate_sd), _q(tr.q_any))
            continue
        cv = tr.cv.get(tr.model)
        coefs = "; ".join(f"{escape(term)} {b:.3f} [{lo:.3f}, {hi:.3f}]" for term, b, lo, hi in zip(tr.terms, tr.beta, tr.beta_lo, tr.beta_hi))
        t.add_row(label, tr.model, "-" if not cv or cv.rho is None else f"{cv.rho:+.2f}",
                  "-" if not cv or cv.rmse is None else f"{cv.rmse * 100:.2f}", coefs, _sd(tr.replicate_sd), _q(tr.q_any))
    console.print(t)
    moved = fit.moved
    console.print(f"{len(moved)} of {fit.tested} tasks tested moved beyond noise (Benjamini-Hochberg q < {fit.q_threshold}): "
                  + (escape(", ".join(moved)) if moved else "none; every difference from the base cell is within seed and item noise"))
    if fit.missing:
        for cid, why in fit.missing.items():
            console.print(f"[yellow]not in the fit: cell {escape(cid)}[/] ({escape(why)})")
    if fit.proposal is None:
        console.print(f"[yellow]no proposed mixture:[/] {escape(fit.proposal_refused or '')}")
        return
    p = fit.proposal
    console.print(f"proposed mixture: [bold]{escape(shares_text(p.shares))}[/] (within the shares the cells span); objective "
                  f"{p.objective:.4f} [{p.objective_lo:.4f}, {p.objective_hi:.4f}]; spec: {escape(p.spec_path)}")
    pt = Table(box=box.SIMPLE_HEAD, title="predicted at the proposal [95% CI]" + (" vs observed" if p.observed else ""), title_justify="left")
    pt.add_column("task", overflow="fold")
    pt.add_column("predicted", justify="right")
    if p.observed:
        pt.add_column("observed", justify="right")
    for name, (v, lo, hi) in p.predicted.items():
        row = [escape(task_label(name, fit.tasks[name].proxy)), f"{v:.3f} [{lo:.3f}, {hi:.3f}]"]
        if p.observed:
            o = p.observed.get(name)
            row.append(f"{o[0]:.3f} [{o[1]:.3f}, {o[2]:.3f}]" if o else "-")
        pt.add_row(*row)
    console.print(pt)


def _sd(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}"


# -- progress ------------------------------------------------------------------------------------------------


class AblateProgress:
    """Ablate's events as lines: one per finished step with elapsed and ETA, and on a terminal a rich bar below them.

    Use as a context manager (the bar is removed on exit).
    """

    def __init__(self, console: Console, jobs: int = 1):
        self.console, self.jobs = console, jobs
        self.bar: Progress | None = None
        self.task = None
        self.t0 = time.perf_counter()
        self.durations: dict[str, list[float]] = {}
        self.last_line = time.perf_counter()
        self.every = 10.0 if console.is_terminal else 30.0  # a pipe gets a line at least every 30 s

    def __enter__(self) -> "AblateProgress":
        if self.console.is_terminal:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("study steps", total=None)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _bar(self, record: StudyRecord, running: str | None = None) -> None:
        if self.bar is not None:
            c = record.counts()
            self.bar.update(self.task, total=len(record.steps), completed=c["done"] + c["failed"],
                            description=f"study {record.name}" + (f": {running}" if running else ""))

    def train_step(self, point: dict) -> None:
        """A training's progress (in-process runs): a line every ``every`` seconds and at its last step."""
        now = time.perf_counter()
        if now - self.last_line < self.every and point["step"] != point["total_steps"]:
            return
        self.last_line = now
        self.console.print(f"[dim]  training step {point['step']}/{point['total_steps']}, loss {point['loss']:.4f}[/]", highlight=False)

    def __call__(self, event: str, step: Step | None, record: StudyRecord) -> None:
        if event == "interrupted":
            c = record.counts()
            self.console.print(f"[yellow]interrupted:[/] {c['done']} of {len(record.steps)} steps done and kept in "
                               f"studies/{escape(record.name)}/study.json; re-run the same command to continue "
                               "(an interrupted training resumes from its last checkpoint)")
            return
        if step is None or event == "start":
            if step is not None and event == "start":
                self._bar(record, step.id)
                if step.kind == "train" and self.bar is None:
                    self.console.print(f"[dim]{time.strftime('%H:%M:%S')} start {escape(step.id)}[/]", highlight=False)
            return
        self._bar(record)
        if step.seconds is not None:
            self.durations.setdefault(step.kind, []).append(step.seconds)
        c = record.counts()
        todo = [s for s in record.steps if s.status in ("pending", "running")]
        known = all(s.kind in self.durations for s in todo)
        eta = sum(sum(self.durations[s.kind]) / len(self.durations[s.kind]) for s in todo) / self.jobs if known else None
        self.last_line = time.perf_counter()
        mark = "[red]failed[/]" if event == "failed" else "done"
        extra = f": {escape(step.error or '')}" if event == "failed" else ""
        self.console.print(f"[{c['done'] + c['failed']}/{len(record.steps)}] {escape(step.id)} {mark} in {hms(step.seconds)}{extra}; "
                           f"elapsed {hms(time.perf_counter() - self.t0)}, ETA {hms(eta) if eta is not None else '?'}",
                           highlight=False, soft_wrap=True)
        sys.stdout.flush()


__all__ = ["AblateProgress", "render_fit", "render_plan", "render_show", "render_studies", "study_status"]
