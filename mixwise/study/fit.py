"""``mixwise study fit``: score ~ composition per task, the noise floor, BH across tasks, and a proposed mixture.

    from mixwise.study.fit import fit_study_dir
    record = fit_study_dir("studies/lima-share")      # writes fit.json and proposed.yaml

The statistics are :mod:`mixwise.evaluate.mixture_fit`'s; this module reads
the study (its record and per-item results), names things, resolves the
objective, writes ``studies/<name>/fit.json`` (:class:`StudyFitRecord`) and the
proposed mixture as a ready spec, ``studies/<name>/proposed.yaml``. Cells added
to validate a proposal (origin ``proposed``) are shown but never fitted, so a
prediction is always compared with data it did not see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from mixwise.errors import MixwiseError
from mixwise.evaluate.mixture_fit import StudyFit, UnderdeterminedError, fit_study, predict, propose
from mixwise.records.study import FIT_FILE, STUDY_FILE, Curve, CvScore, ProposalRecord, StudyFitRecord, StudyRecord, TaskFitRecord
from mixwise.study.design import largest_remainder
from mixwise.study.results import StudyScores, TaskMeta, gather
from mixwise.study.spec import StudySpec, load_study
from mixwise.workspace import now_iso

Q_THRESHOLD = 0.05
PROPOSED_FILE = "proposed.yaml"


def load(folder: str | Path) -> tuple[Path, StudyRecord, StudySpec]:
    """The study folder, its record and its spec (re-read from the file the record names)."""
    folder = Path(folder)
    path = folder / STUDY_FILE
    if not path.is_file():
        raise MixwiseError(f"no study record at {path}", "run the study first: mixwise ablate STUDY.yaml")
    record = StudyRecord.read(path)
    spec_path = Path(record.spec_path)
    if not spec_path.is_file():
        raise MixwiseError(f"{path}: its study file {spec_path} is gone", "restore it (the record keeps its content under 'spec')")
    return folder, record, load_study(spec_path)


def part_matrix(cells) -> tuple[np.ndarray, list[str]]:
    """Cells x parts shares (realised), parts in first-seen order."""
    parts: list[str] = []
    for c in cells:
        for p in c.parts or {}:
            if p not in parts:
                parts.append(p)
    return np.array([[(c.parts or {}).get(p, 0.0) for p in parts] for c in cells]), parts


def scores_and_fit(folder: Path, record: StudyRecord, study: StudySpec, *, draws: int = 2000, seed: int | None = None,
                   fit: bool = True, include_proposed: bool = False) -> tuple[StudyScores, StudyFit]:
    """Gather the per-item results and fit them (``fit=False``: cell means and differences only)."""
    scores = gather(folder, record, list(study.evals), include=lambda c: include_proposed or c.origin != "proposed")
    ids = [c.id for c in scores.cells]
    if "base" not in ids:
        raise MixwiseError(f"study {record.name}: the base cell has no results yet ({scores.missing.get('base', 'not run')})",
                           "run it: mixwise ablate " + record.spec_path)
    if not scores.tasks:
        raise MixwiseError(f"study {record.name}: no task was scored in every cell with results", "run the study's evaluations")
    x, parts = part_matrix(scores.cells)
    sf = fit_study(x, parts, scores.tasks, base=ids.index("base"), draws=draws, seed=record.seed if seed is None else seed, fit=fit)
    return scores, sf


def resolve_weights(objective: dict, meta: dict[str, TaskMeta]) -> dict[str, float]:
    """Objective weights over task names; an evaluation's name spreads its weight over its tasks.

    Default: every evaluation that is not a proxy weighs 1, shared by its tasks (chance-normalised scores).
    """
    weights = objective.get("weights") or {}
    by_eval: dict[str, list[str]] = {}
    for t, m in meta.items():
        by_eval.setdefault(m.eval, []).append(t)
    if not weights:
        weights = {e: 1.0 for e, ts in by_eval.items() if not any(meta[t].proxy for t in ts)}
    out: dict[str, float] = {}
    for name, w in weights.items():
        if name in meta:
            out[name] = out.get(name, 0.0) + w
        elif name in by_eval:
            for t in by_eval[name]:
                out[t] = out.get(t, 0.0) + w / len(by_eval[name])
        else:
            from mixwise.errors import did_you_mean

            raise MixwiseError(f"objective weight on unknown task or evaluation {name!r}", did_you_mean(name, list(meta) + list(by_eval)))
    return out


def _curve(sf: StudyFit, name: str) -> Curve | None:
    """Predictions along the design's one free direction (two fit variables), over the range the cells span."""
    tf = sf.tasks[name]
    v = sf.variables
    if tf.beta is None or len(v.names) != 2:
        return None
    lo, hi = float(v.x[:, 0].min()), float(v.x[:, 0].max())
    grid = np.linspace(lo, hi, 41)
    pts = np.column_stack([grid, 1 - grid])
    pred, a, b = predict(tf, pts)
    return Curve(variable=v.names[0], x=grid.tolist(), pred=pred.tolist(), lo=a.tolist(), hi=b.tolist())


def _nan(v):
    return [None if (x is None or (isinstance(x, float) and np.isnan(x))) else float(x) for x in v]


def task_record(sf: StudyFit, name: str) -> TaskFitRecord:
    tf = sf.tasks[name]
    return TaskFitRecord(
        metric=tf.metric, baseline=tf.baseline, proxy=tf.proxy, n_items=tf.n_items, unpaired_items=tf.unpaired_items,
        replicates=tf.noise["replicates"], replicate_sd=tf.noise["replicate_sd"], replicate_df=tf.noise["replicate_df"],
        item_se=tf.noise["item_se"], mean=tf.cell_means.tolist(), lo=tf.cell_lo.tolist(), hi=tf.cell_hi.tolist(),
        delta=tf.delta.tolist(), delta_lo=tf.delta_lo.tolist(), delta_hi=tf.delta_hi.tolist(), delta_p=_nan(tf.delta_p),
        delta_q=_nan(tf.delta_q), p_any=tf.p_any, q_any=tf.q_any, model=tf.model, terms=tf.terms,
        beta=None if tf.beta is None else tf.beta.tolist(), beta_lo=None if tf.beta_lo is None else tf.beta_lo.tolist(),
        beta_hi=None if tf.beta_hi is None else tf.beta_hi.tolist(),
        cv={m: CvScore(rmse=c["rmse"], rho=c["rho"], cells_predicted=c["cells_predicted"]) for m, c in tf.cv.items()},
        refused=tf.refused, curve=_curve(sf, name))


def proposed_spec(study: StudySpec, shares: dict[str, float], total: int, header: str) -> str:
    """The proposal as a mixture spec: the base spec with each component's count at ``total`` samples."""
    comp_shares: dict[str, float] = {}
    for part, s in shares.items():
        comp = part.split("/", 1)[0]
        comp_shares[comp] = comp_shares.get(comp, 0.0) + s
    counts = largest_remainder({c.name: comp_shares.get(c.name, 0.0) for c in study.base.components}, total)
    data = study.base.to_dict()
    data["name"] = f"{study.name}-proposed"
    data.pop("size", None)
    data.pop("description", None)
    comps = []
    for c in data["components"]:
        n = counts.get(c["name"], 0)
        if n <= 0:
            continue
        for unit in ("count", "share", "tokens", "repeat"):
            c.pop(unit, None)
        comps.append({**c, "count": n})
    data["components"] = comps
    return header + yaml.safe_dump(data, sort_keys=False)


def fit_study_dir(folder: str | Path, *, draws: int = 2000, seed: int | None = None, write: bool = True) -> StudyFitRecord:
    """Fit the study in ``folder``; write fit.json and (when a mixture can be proposed) proposed.yaml."""
    folder, record, study = load(folder)
    scores, sf = scores_and_fit(folder, record, study, draws=draws, seed=seed)
    names = [c.id for c in scores.cells]
    tasks = {n: task_record(sf, n) for n in sf.tasks}
    proposal, refused = None, None
    try:
        weights = resolve_weights(study.objective, scores.meta)
        base_idx = names.index("base")
        cons = [{"task": c["task"], "min": float(sf.tasks[c["task"]].cell_means[base_idx]) if c["min"] == "base" else float(c["min"])}
                for c in study.objective.get("constraints") or []]
        bounds = {k: tuple(v) for k, v in (study.objective.get("bounds") or {}).items()}
        p = propose(sf, weights, bounds=bounds, constraints=cons, seed=record.seed)
        total = record.base.samples if record.base else sum(record.cells[0].counts.values())
        header = (f"# The mixture study {study.name} proposes (mixwise study fit, {now_iso()[:10]}): it maximises the objective\n"
                  f"# {weights} by the fitted models, within the shares the cells span.\n"
                  f"# Predicted objective {p.objective:.4f} [{p.objective_lo:.4f}, {p.objective_hi:.4f}] (95% bootstrap interval).\n"
                  f"# Build: mixwise mix {folder / PROPOSED_FILE}   Check it: mixwise study fit {study.name} --validate\n")
        (folder / PROPOSED_FILE).write_text(proposed_spec(study, p.shares, total, header)) if write else None
        proposal = ProposalRecord(shares=p.shares, x=p.x.tolist(), objective=p.objective, objective_lo=p.objective_lo,
                                  objective_hi=p.objective_hi, predicted={k: list(v) for k, v in p.predicted.items()},
                                  bounds={k: list(v) for k, v in p.bounds.items()}, constraints=p.constraints, spec_path=PROPOSED_FILE)
    except (UnderdeterminedError, MixwiseError) as e:
        refused = e.line()
    fit_rec = StudyFitRecord(
        schema_version=StudyFitRecord.SCHEMA_VERSION, study=record.name, spec_hash=record.spec_hash, created_at=now_iso(),
        draws=draws, seed=sf.seed, cells=names, missing=scores.missing, base_cell="base", components=sf.components,
        variables=sf.variables.names, x=sf.variables.x.tolist(), tasks=tasks, tested=sf.tested, moved=sf.moved(Q_THRESHOLD),
        q_threshold=Q_THRESHOLD, objective={"weights": study.objective.get("weights") or {}, "resolved": resolve_weights(study.objective, scores.meta),
                                            "constraints": study.objective.get("constraints") or []},
        proposal=proposal, proposal_refused=refused)
    if write:
        fit_rec.write(folder / FIT_FILE)
    return fit_rec


__all__ = ["PROPOSED_FILE", "Q_THRESHOLD", "fit_study_dir", "load", "part_matrix", "proposed_spec", "resolve_weights", "scores_and_fit"]
