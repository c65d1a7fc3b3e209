"""``mixwise ablate --plan``: what a study will cost and what it can detect, before anything is trained.

Nothing heavy runs: the base mixture and every cell are *selected* (the same
selection ``mix`` makes, nothing written), which gives each cell's exact
composition, samples and estimated tokens. Then:

- **time**: tokens to train x the model's measured speed, taken from earlier
  runs of the same model on this machine (``runs/*/run.json`` and every study's
  runs), or from a 2-step calibration training when asked (``calibrate``);
  otherwise the plan says it has no figure and how to get one.
- **smallest detectable effect** per task at 80% power (two-sided 5%, one cell
  against the base): ``(z_0.975 + z_0.8) * sqrt(2 s_rep^2 / R + s_d^2 / N)``
  with ``R`` replicates, ``N`` items, ``s_rep`` the training-seed SD and ``s_d``
  the SD of a per-item difference between two cells. Both come from a pilot (an
  earlier fit of the same model and task) when one exists, else from stated
  defaults (1 point of seed noise; binary items at p = 0.5 whose outcomes agree
  between cells with correlation 0.5, so ``s_d`` = 0.5). With T tasks under
  Benjamini-Hochberg the threshold for the strongest claim is 0.05 / T: that
  column is given too.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

from mixwise.errors import MixwiseError
from mixwise.study.design import design_cells
from mixwise.study.spec import StudySpec, load_study
from mixwise.workspace import Workspace

DEFAULT_SEED_SD = 0.01
DEFAULT_DIFF_SD = 0.5
POWER = 0.8
ALPHA = 0.05


@dataclass
class CellCost:
    id: str
    shares: dict[str, float]
    samples: int
    tokens: int
    shortfall: dict[str, int]
    train_tokens: int


@dataclass
class TaskPower:
    task: str
    items: int | None
    seed_sd: float
    diff_sd: float
    source: str  # pilot or default
    mde: float | None
    mde_bh: float | None


@dataclass
class Plan:
    study: StudySpec
    cells: list[CellCost]
    trainings: int
    evaluations: int
    tokens: int
    seconds: float | None
    speed: str
    power: list[TaskPower] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def mde(seed_sd: float, diff_sd: float, replicates: int, items: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest difference between two cells detectable at ``power`` (two-sided ``alpha``); see the module docstring."""
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * (2 * seed_sd**2 / replicates + diff_sd**2 / items) ** 0.5


def _train_tokens(study: StudySpec, cell_tokens: int) -> int:
    from mixwise.finetune.recipe import load_recipe

    r = load_recipe(study.train["recipe"], study.train["overrides"])
    full = cell_tokens * r.epochs
    if study.train.get("max_steps"):
        return min(full, study.train["max_steps"] * r.batch_size * r.max_length)
    return full


def earlier_speed(model: str, roots: list[Path]) -> tuple[float | None, int]:
    """Median tokens/s of finished runs of ``model`` under ``roots`` (and how many there were)."""
    from mixwise.records import RunRecord

    speeds = []
    for root in roots:
        for p in list(root.glob("*/run.json")) + list(root.glob("*/runs/*/run.json")):
            try:
                rec = RunRecord.read(p)
            except MixwiseError:
                continue
            if rec.model.name == model and rec.throughput.tokens_per_s > 0:
                speeds.append(rec.throughput.tokens_per_s)
    return (statistics.median(speeds) if speeds else None), len(speeds)


def calibrate_speed(study: StudySpec, manifest: Path, steps: int = 2) -> float:
    """Tokens/s of a short training of the study's model on ``manifest`` (in a temporary folder)."""
    from mixwise.finetune.train import train

    with tempfile.TemporaryDirectory() as tmp:
        res = train(manifest, study.train["model"], recipe=study.train["recipe"], overrides=study.train["overrides"],
                    max_steps=steps, out=tmp, run_name="calibration")
        return float(res.run.throughput.tokens_per_s)


def _task_items(study: StudySpec) -> dict[str, int | None]:
    """Items per mc task (the limit, or the data file's size); judge and proxy sets by their limit."""
    from mixwise.evaluate.tasks import runnable_tasks

    out: dict[str, int | None] = {}
    for ev in study.evals:
        o = ev.options
        if ev.kind != "mc":
            out[ev.name] = o.get("limit")
            continue
        tasks, _ = runnable_tasks(o.get("tasks"), o.get("suite"), o.get("data_dir") or [])
        for t in tasks:
            try:
                n = len(t.docs(o.get("data_dir") or []))
            except MixwiseError:
                n = None
            out[t.name] = min(n, o["limit"]) if (n is not None and o.get("limit")) else (n or o.get("limit"))
    return out


def _pilot(studies_root: Path, model: str) -> dict[str, tuple[float, float]]:
    """task -> (seed SD, per-item difference SD) from earlier fits of studies of the same model."""
    out: dict[str, tuple[float, float]] = {}
    for fit_path in sorted(studies_root.glob("*/fit.json")):
        try:
            fit = json.loads(fit_path.read_text())
            study = json.loads((fit_path.parent / "study.json").read_text())
        except (OSError, ValueError):
            continue
        if study.get("spec", {}).get("train", {}).get("model") != model:
            continue
        for task, t in fit.get("tasks", {}).items():
            ses = [s for s in t.get("item_se") or [] if s]
            if t.get("replicate_sd") is not None and ses and t.get("n_items"):
                # a cell mean's item SE * sqrt(N) is the per-item SD; a difference of two cells ~ sqrt(2 (1 - rho)) times it
                item_sd = statistics.median(ses) * t["n_items"] ** 0.5
                out[task] = (float(t["replicate_sd"]), float(item_sd))
    return out


def make_plan(spec_path: str | Path, *, workspace: str | Path | None = None, studies: str | Path | None = None,
              calibrate: bool = False) -> Plan:
    """Select every cell (nothing written), count tokens, estimate time and the smallest detectable effects."""
    from mixwise.mixing.build import select
    from mixwise.mixing.filters import TOKENS_COL
    from mixwise.mixing.manifest import assemble, ensure_sources, inputs_record, store
    from mixwise.study.runner import studies_dir

    study = load_study(spec_path)
    ws = Workspace.resolve(workspace)
    notes = [f"ingested source {n} for the base spec" for n in ensure_sources(study.base, ws, base_dir=study.base_path.parent)]
    table = ws.scored()
    base_sel = select(study.base, table)
    counts = {c["name"]: c["selected"] for c in base_sel.components}
    cells = []
    for cp in design_cells(study, counts):
        sel = select(cp.spec, table)
        tokens = int(sel.samples.get_column(TOKENS_COL).sum() or 0)
        cells.append(CellCost(cp.id, cp.shares, sel.samples.height, tokens, {c["name"]: c["shortfall"] for c in sel.components if c["shortfall"]},
                              _train_tokens(study, tokens)))
    trainings = len(cells) * study.replicates
    tokens = sum(c.train_tokens for c in cells) * study.replicates
    root = studies_dir(studies)
    speed, n = earlier_speed(study.train["model"], [Path("runs"), root])
    how = f"median of {n} earlier runs of {study.train['model']}" if speed else ""
    if speed is None and calibrate:
        with tempfile.TemporaryDirectory() as tmp:
            res = store(assemble(study.base, base_sel, inputs_record(ws, [])), base_sel.samples, tmp)
            speed = calibrate_speed(study, res.path)
        how = "a 2-step calibration training just now"
    seconds = tokens / speed if speed else None
    speed_note = (f"{speed:,.0f} tokens/s ({how})" if speed else
                  f"no earlier run of {study.train['model']} here: run with --calibrate for a 2-step measurement")
    items = _task_items(study)
    pilot = _pilot(root, study.train["model"])
    power = []
    for task, n in items.items():
        seed_sd, diff_sd, src = DEFAULT_SEED_SD, DEFAULT_DIFF_SD, "stated default"
        if task in pilot:
            seed_sd, item_sd = pilot[task]
            diff_sd, src = item_sd, "pilot (an earlier fit of this model)"
        m = mde(seed_sd, diff_sd, study.replicates, n) if n else None
        m_bh = mde(seed_sd, diff_sd, study.replicates, n, alpha=ALPHA / max(len(items), 1)) if n else None
        power.append(TaskPower(task, n, seed_sd, diff_sd, src, m, m_bh))
    return Plan(study, cells, trainings, trainings * len(study.evals), tokens, seconds, speed_note, power, notes)


__all__ = ["Plan", "calibrate_speed", "earlier_speed", "make_plan", "mde"]
