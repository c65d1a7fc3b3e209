"""The steps of a study and how each one runs: mix a cell, train a replicate, evaluate a replicate.

A step's *fingerprint* hashes everything its result depends on (a mix: the
cell's spec and the workspace's data and stage configs; a training: the
manifest version, the resolved recipe, the model, the replicate's seed; an
evaluation: its training's fingerprint and the evaluation's settings), so a
re-run skips a done step whose fingerprint is unchanged and redoes it when its
inputs changed. :func:`execute` runs one step and returns a
:class:`StepOutcome`; the caller (the runner, or a worker process) records it.

Folders, relative to ``studies/<name>/``: ``manifests/<study>--<cell>/<version>/``,
``runs/<cell>-r<k>/`` (with ``eval/mc/<eval>/``, ``eval/<kind>/<eval>/`` inside).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixwise.errors import MixwiseError
from mixwise.records import RunRecord
from mixwise.records.study import Cell, CellManifest, Step
from mixwise.study.spec import EvalSpec, StudySpec
from mixwise.workspace import Workspace


def digest(*parts: Any) -> str:
    """A short stable hash of JSON-able parts."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


def replicate_seed(study_seed: int, k: int) -> int:
    """Training seed of replicate ``k``: the same in every cell (common random numbers across cells)."""
    return int.from_bytes(hashlib.blake2b(f"{study_seed}\x1freplicate\x1f{k}".encode(), digest_size=4).digest(), "little")


def run_name(cell: str, k: int) -> str:
    return f"{cell}-r{k}"


def workspace_state(ws: Workspace) -> dict:
    """What a mix reads from the workspace: the data fingerprint and each stage's config and input."""
    stages = {}
    for s in ws.stage_names():
        meta = ws.stage_meta(s) or {}
        stages[s] = [meta.get("config_hash"), meta.get("input_fingerprint")]
    return {"data": ws.fingerprint(), "stages": stages}


def train_config(study: StudySpec, k: int) -> dict:
    """The training settings of replicate ``k`` (the recipe resolved, so editing a recipe file counts)."""
    from mixwise.finetune.recipe import load_recipe

    overrides = dict(study.train["overrides"])
    overrides["seed"] = replicate_seed(study.seed, k)
    if study.train.get("checkpoint_every"):
        overrides["save_every_steps"] = study.train["checkpoint_every"]
    recipe = load_recipe(study.train["recipe"], overrides)
    return {"model": study.train["model"], "recipe": study.train["recipe"], "overrides": overrides,
            "resolved": recipe.to_dict(), "max_steps": study.train.get("max_steps")}


def mix_fingerprint(cell_spec: dict, ws_state: dict, base_version: str) -> str:
    """The cell's spec without its machine-specific source paths and its description, plus what it reads."""
    spec = {k: v for k, v in cell_spec.items() if k not in ("sources", "description")}
    return digest("mix", spec, ws_state, base_version)


def train_fingerprint(manifest_version: str, config: dict) -> str:
    cfg = {k: v for k, v in config.items() if k != "resolved"}
    cfg["resolved"] = {k: v for k, v in config["resolved"].items() if k not in ("save_every_steps", "save_epochs", "log_every")}
    return digest("train", manifest_version, cfg)


def eval_fingerprint(train_fp: str, ev: EvalSpec) -> str:
    return digest("eval", train_fp, ev.to_dict())


def new_step(kind: str, cell: str, fingerprint: str, replicate: int | None = None, eval_name: str | None = None) -> Step:
    sid = {"mix": f"mix:{cell}", "train": f"train:{cell}:r{replicate}", "eval": f"eval:{cell}:r{replicate}:{eval_name}"}[kind]
    return Step(id=sid, kind=kind, cell=cell, replicate=replicate, eval=eval_name, fingerprint=fingerprint, status="pending",
                output=None, error=None, started_at=None, finished_at=None, seconds=None, attempts=0)


# -- running a step ------------------------------------------------------------------------------------


@dataclass
class StepOutcome:
    """What a finished step produced: its output folder (relative to the study folder) and, for a mix, the cell's manifest."""

    output: str
    manifest: CellManifest | None = None
    parts: dict[str, float] | None = None
    composition: dict[str, dict[str, float] | None] | None = None
    info: dict = field(default_factory=dict)


@dataclass
class StudyContext:
    """Where a study lives and what its steps need."""

    study: StudySpec
    dir: Path
    workspace: Path
    device: str | None = None
    on_train_step: Callable[[dict], None] | None = None

    @property
    def manifests(self) -> Path:
        return self.dir / "manifests"

    @property
    def runs(self) -> Path:
        return self.dir / "runs"

    def rel(self, p: Path) -> str:
        return str(Path(p).resolve().relative_to(self.dir.resolve()))


def shares_of(groups: dict[str, Any] | None) -> dict[str, float] | None:
    """Group counts -> shares (None stays None: an axis the manifest did not record)."""
    if groups is None:
        return None
    total = sum(g.samples for g in groups.values()) or 1
    return {k: g.samples / total for k, g in groups.items()}


def cell_parts(manifest) -> dict[str, float]:
    """Realised share per part: each component, or ``component/source`` for a per-source component."""
    total = manifest.counts.samples or 1
    parts: dict[str, float] = {}
    for c in manifest.counts.components:
        if c.per_source:
            for src, n in sorted(c.per_source["resolved"].items()):
                parts[f"{c.name}/{src}"] = n / total
        else:
            parts[c.name] = c.selected / total
    return parts


def run_mix(ctx: StudyContext, cell: Cell, base_version: str) -> StepOutcome:
    """Build the cell's manifest (a child of the base mixture's version)."""
    from mixwise.mixing.manifest import build_manifest
    from mixwise.mixing.spec import parse_spec

    spec = parse_spec(cell.spec, path=ctx.study.base.path)
    result = build_manifest(spec, Workspace(ctx.workspace), ctx.manifests, parent=base_version)
    m = result.manifest
    comp = m.composition
    composition = {"component": shares_of(comp.by_component), "source": shares_of(comp.by_source),
                   "style": shares_of(comp.by_style), "quality": shares_of(comp.by_quality)}
    ref = CellManifest(name=m.name, version=m.version, path=ctx.rel(result.path), samples=m.counts.samples, tokens=m.counts.tokens)
    return StepOutcome(ctx.rel(result.path), ref, cell_parts(m), composition)


def run_train(ctx: StudyContext, cell: Cell, k: int) -> StepOutcome:
    """Train replicate ``k`` of the cell; resume from its last checkpoint when an earlier attempt was cut off."""
    from mixwise.finetune import checkpoint
    from mixwise.finetune.train import train

    if cell.manifest is None:
        raise MixwiseError(f"cell {cell.id} has no manifest", "its mix step must run first")
    cfg = train_config(ctx.study, k)
    run_dir = ctx.runs / run_name(cell.id, k)
    resume = None
    if run_dir.exists():
        try:
            resume = checkpoint.find(run_dir)
        except MixwiseError:
            shutil.rmtree(run_dir)  # an attempt that left no resumable checkpoint: start over
    result = train(ctx.dir / cell.manifest.path, cfg["model"], recipe=cfg["recipe"], overrides=cfg["overrides"],
                   max_steps=cfg["max_steps"], out=ctx.runs, run_name=run_name(cell.id, k), resume=resume,
                   device=ctx.device or ctx.study.train.get("device"), on_step=ctx.on_train_step)
    rec = result.run
    info = {"steps": rec.steps, "final_loss": rec.final_loss, "tokens_per_s": rec.throughput.tokens_per_s,
            "resumed": resume is not None}
    return StepOutcome(ctx.rel(result.run_dir), info=info)


#: evaluation kind -> runner(ctx, run_dir, eval spec) returning the results folder
EVAL_RUNNERS: dict[str, Callable[[StudyContext, Path, EvalSpec], Path]] = {}


def eval_runner(kind: str):
    """Register how an evaluation kind of a study runs (``mc``, ``judge``, the judge-free proxies)."""
    def deco(fn):
        EVAL_RUNNERS[kind] = fn
        return fn
    return deco


@eval_runner("mc")
def _eval_mc(ctx: StudyContext, run_dir: Path, ev: EvalSpec) -> Path:
    from mixwise.evaluate.mc import evaluate
    from mixwise.evaluate.tasks import runnable_tasks

    o = ev.options
    dirs = o.get("data_dir") or []
    tasks, _skipped = runnable_tasks(o.get("tasks"), o.get("suite"), dirs, num_fewshot=o.get("num_fewshot"))
    result = evaluate(str(run_dir), tasks, data_dir=dirs, limit=o.get("limit"), label=ev.name,
                      device=ctx.device or ctx.study.train.get("device"), batch_tokens=o.get("batch_tokens", 2048))
    return Path(result.results_dir)


@eval_runner("judge")
def _eval_judge(ctx: StudyContext, run_dir: Path, ev: EvalSpec) -> Path:
    import os

    from mixwise.evaluate.judge_run import JudgeSettings, judge_model

    o = ev.options
    key = os.environ.get(o["api_key_env"]) if o.get("api_key_env") else None
    settings = JudgeSettings(baseline=o.get("baseline"), prompts=o.get("prompts", "lima_test"), judge=o.get("mode", "pairwise"),
                             judge_base_url=o.get("base_url"), judge_model_name=o.get("judge"), judge_api_key=key,
                             limit=o.get("limit"))
    outcome = judge_model(str(run_dir), settings, ws=Workspace(ctx.workspace))
    return outcome.summary_path.parent


def run_eval(ctx: StudyContext, cell: Cell, k: int, ev: EvalSpec) -> StepOutcome:
    """Evaluate replicate ``k`` of the cell (its training must be done)."""
    run_dir = ctx.runs / run_name(cell.id, k)
    if not (run_dir / "run.json").is_file():
        raise MixwiseError(f"{run_dir} has no finished training", "its train step must run first")
    RunRecord.read(run_dir / "run.json")  # a damaged record fails here, naming the field
    runner = EVAL_RUNNERS.get(ev.kind)
    if runner is None:
        raise MixwiseError(f"evaluation kind {ev.kind!r} has no runner in this mixwise", f"known: {', '.join(sorted(EVAL_RUNNERS))}")
    return StepOutcome(ctx.rel(runner(ctx, run_dir, ev)))


def execute(ctx: StudyContext, step: Step, cell: Cell, base_version: str) -> tuple[StepOutcome, float]:
    """Run one step; returns its outcome and seconds (raises on failure)."""
    t0 = time.perf_counter()
    if step.kind == "mix":
        out = run_mix(ctx, cell, base_version)
    elif step.kind == "train":
        out = run_train(ctx, cell, step.replicate)
    else:
        ev = next(e for e in ctx.study.evals if e.name == step.eval)
        out = run_eval(ctx, cell, step.replicate, ev)
    return out, time.perf_counter() - t0
