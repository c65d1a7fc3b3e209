"""CLI: ``mixwise ablate`` (run a study), ``mixwise studies`` (list them), ``mixwise study show|fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mixwise.cli._common import console, emit_json, state

STUDIES_HELP = "Studies folder (default ./studies or $MIXWISE_STUDIES)."
study_app = typer.Typer(help="Inspect and fit ablation studies.\n\nExample: mixwise study show lima-share",
                        no_args_is_help=True)


def ablate(
    spec: Path = typer.Argument(..., help="Study spec (YAML): base mixture, design, replicates, train, eval."),
    plan: bool = typer.Option(False, "--plan", help="Show the cells, trainings, tokens, time and detectable effect; run nothing heavy."),
    calibrate: bool = typer.Option(False, "--calibrate", help="With --plan: time a 2-step training when no earlier run gives the speed."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Steps run at once, as separate processes (the record does not depend on it)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed steps again."),
    device: Optional[str] = typer.Option(None, "--device", help="Device for training and evaluation (default: cuda if available, else cpu)."),
    studies: Optional[str] = typer.Option(None, "--studies", envvar="MIXWISE_STUDIES", help=STUDIES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the plan or the final study record as JSON."),
) -> None:
    """Run an ablation study: mix -> train -> evaluate every cell and replicate, resumably.

    Every cell is a child of the study's base mixture. Finished steps are kept
    in studies/NAME/study.json with their fingerprints: Ctrl-C (or a crash) and
    the same command again continues where it stopped, a training from its
    last checkpoint (set train.checkpoint_every). A failing step is recorded
    with its error and the other cells go on.

    Example: mixwise ablate studies/lima-share.yaml --plan
    """
    from mixwise.study.plan import make_plan
    from mixwise.study.runner import ablate as run_ablate
    from mixwise.views.study import AblateProgress, render_plan, study_status

    if plan:
        p = make_plan(spec, workspace=state.workspace, studies=studies, calibrate=calibrate)
        if as_json:
            emit_json({"study": p.study.name, "cells": [c.__dict__ for c in p.cells], "trainings": p.trainings,
                       "evaluations": p.evaluations, "tokens": p.tokens, "seconds": p.seconds, "speed": p.speed,
                       "power": [r.__dict__ for r in p.power], "notes": p.notes})
            return
        render_plan(p, console)
        return
    with AblateProgress(console, jobs) as progress:
        record = run_ablate(spec, jobs=jobs, workspace=state.workspace, studies=studies, device=device,
                            retry_failed=retry_failed, on_event=progress, on_train_step=progress.train_step)
    if as_json:
        emit_json(record.to_dict())
        return
    s = study_status(record)
    tail = "; see: mixwise study show " + record.name
    if s["failed"]:
        console.print(f"[yellow]{s['failed']} step(s) failed[/] (errors in mixwise study show {record.name}); "
                      f"retry them with: mixwise ablate {spec} --retry-failed")
    console.print(f"study {record.name}: {s['done']}/{s['steps']} steps done, {s['cells_done']}/{s['cells']} cells complete{tail}; "
                  f"then: mixwise study fit {record.name}")
    if s["failed"]:
        raise typer.Exit(1)


def studies_cmd(
    studies: Optional[str] = typer.Option(None, "--studies", envvar="MIXWISE_STUDIES", help=STUDIES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List studies: cells complete, steps done / failed / pending, compute so far, ETA, and whether one is running.

    Example: mixwise studies --json
    """
    from mixwise.records.study import STUDY_FILE, StudyRecord
    from mixwise.study.runner import is_running, studies_dir
    from mixwise.views.study import render_studies, study_status

    root = studies_dir(studies)
    rows = []
    for p in sorted(root.glob(f"*/{STUDY_FILE}")) if root.is_dir() else []:
        row = study_status(StudyRecord.read(p))
        row["running_by"] = is_running(p.parent)
        row["path"] = str(p.parent)
        rows.append(row)
    if as_json:
        emit_json(rows)
        return
    render_studies(rows, console)


def _folder(name: str, studies: str | None) -> Path:
    from mixwise.errors import MixwiseError, did_you_mean
    from mixwise.study.runner import studies_dir

    p = Path(name)
    if (p / "study.json").is_file():
        return p
    root = studies_dir(studies)
    if (root / name / "study.json").is_file():
        return root / name
    known = [q.parent.name for q in root.glob("*/study.json")] if root.is_dir() else []
    raise MixwiseError(f"no study {name!r} in {root}", did_you_mean(name, known) if known else "run one first: mixwise ablate STUDY.yaml")


def show(
    name: str = typer.Argument(..., help="Study name (a folder under the studies folder) or a study folder."),
    studies: Optional[str] = typer.Option(None, "--studies", envvar="MIXWISE_STUDIES", help=STUDIES_HELP),
    draws: int = typer.Option(2000, "--draws", help="Bootstrap draws for the intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print cells and per-task scores as JSON."),
) -> None:
    """Per cell: its composition and steps; per task: mean with its 95% interval and the paired delta from the base cell.

    Intervals come from a two-level bootstrap (items and training seeds); q-values
    are Benjamini-Hochberg over every cell x task difference.

    Example: mixwise study show lima-share
    """
    from mixwise.errors import MixwiseError
    from mixwise.study.fit import load, scores_and_fit, task_record
    from mixwise.views.study import render_show

    folder, record, study = load(_folder(name, studies))
    data: dict = {}
    try:
        scores, sf = scores_and_fit(folder, record, study, draws=draws, fit=False, include_proposed=True)
        data = {"cells": [c.id for c in scores.cells], "missing": scores.missing,
                "tasks": {n: task_record(sf, n).__dict__ | {"curve": None, "cv": {}} for n in sf.tasks}}
    except MixwiseError as e:
        data = {"why": e.line()}
    if as_json:
        emit_json({"study": record.to_dict(), "scores": data})
        return
    render_show(record, data, console)


def fit(
    name: str = typer.Argument(..., help="Study name or folder."),
    studies: Optional[str] = typer.Option(None, "--studies", envvar="MIXWISE_STUDIES", help=STUDIES_HELP),
    draws: int = typer.Option(2000, "--draws", help="Bootstrap draws."),
    validate: bool = typer.Option(False, "--validate", help="Add the proposed mixture as a cell, train and score it, and compare."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="With --validate: steps at once."),
    as_json: bool = typer.Option(False, "--json", help="Print the fit record as JSON."),
) -> None:
    """Fit score ~ composition per task: model chosen by cross-validation, intervals, BH across tasks, a proposed mixture.

    Writes studies/NAME/fit.json and studies/NAME/proposed.yaml (a mixture spec
    that mixwise mix builds). Refuses a model with more parameters than the
    study has distinct cells, and says how many more cells it needs.

    Example: mixwise study fit lima-share --validate
    """
    from mixwise.study.fit import fit_study_dir
    from mixwise.study.validate import validate_proposal
    from mixwise.views.study import AblateProgress, render_fit

    folder = _folder(name, studies)
    if validate:
        with AblateProgress(console, jobs) as progress:
            record = validate_proposal(folder, draws=draws, jobs=jobs, workspace=state.workspace, studies=studies, on_event=progress)
    else:
        record = fit_study_dir(folder, draws=draws)
    if as_json:
        emit_json(record.to_dict())
        return
    render_fit(record, console)


study_app.command("show")(show)
study_app.command("fit")(fit)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Evaluate")(ablate)
    app.command("studies", rich_help_panel="Evaluate")(studies_cmd)
    app.add_typer(study_app, name="study", rich_help_panel="Evaluate")
