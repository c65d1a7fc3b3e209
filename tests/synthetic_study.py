"""A synthetic study written through the records module: known truth for the fit, no training.

Per-item scores are a known linear function of the cells' shares plus a
training-seed effect per replicate, an item effect shared by every cell and
item x replicate noise, written as ``eval mc`` result records of each replicate's
run folder, with a study record whose every step is done. ``mixwise study fit``
then reads them exactly as it reads a real study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mixwise.records import McResults, McItem, write_mc_items
from mixwise.records.study import Cell, CellManifest, Step, StudyRecord
from mixwise.study.spec import load_study

COMPONENTS = ("a", "b", "c")


def write_synthetic_study(root: Path, shares: np.ndarray, beta: np.ndarray, *, replicates: int = 2, items: int = 300,
                          seed: int = 0, seed_sd: float = 0.01, item_sd: float = 0.15, noise_sd: float = 0.3,
                          weights: dict[str, float] | None = None) -> Path:
    """Write studies/syn/ under ``root`` for cells ``shares`` (first row: the base) and tasks ``beta`` (tasks x components)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "base.yaml").write_text("name: synbase\nseed: 0\ncomponents:\n" +
                                    "".join(f"  - {{name: {c}, filter: {{source: {c}}}, count: 10}}\n" for c in COMPONENTS))
    tasks = [f"t{k}" for k in range(len(beta))]
    obj = "" if weights is None else f"objective: {{weights: {dict(weights)}}}\n".replace("'", "")
    spec_path = root / "syn.yaml"
    spec_path.write_text("name: syn\nseed: 0\nbase: base.yaml\nvary: {design: leave_one_out}\n"
                         f"replicates: {replicates}\ntrain: {{model: tiny-random, recipe: quick}}\n"
                         f"eval: [{{name: syn, kind: mc, tasks: {tasks}}}]\n".replace("'", "") + obj)
    study = load_study(spec_path)
    folder = root / "studies" / "syn"
    rng = np.random.default_rng(seed)
    item_effect = rng.normal(0, item_sd, size=(len(beta), items))
    cells, steps = [], []
    for c, x in enumerate(shares):
        cid = "base" if c == 0 else f"cell-{c:02d}"
        parts = {name: float(v) for name, v in zip(COMPONENTS, x)}
        man = CellManifest(name=f"syn--{cid}", version=f"v{c:02d}", path=f"manifests/syn--{cid}/v{c:02d}", samples=30, tokens=3000)
        cells.append(Cell(id=cid, origin="base" if c == 0 else "design", shares=parts, counts={k: 10 for k in COMPONENTS},
                          param=None, spec={"name": f"syn--{cid}"}, manifest=man, parts=parts,
                          composition={"component": parts, "source": parts, "style": None, "quality": None}))
        steps.append(_step(f"mix:{cid}", "mix", cid, None, None, man.path))
        for r in range(replicates):
            run = f"runs/{cid}-r{r}"
            steps.append(_step(f"train:{cid}:r{r}", "train", cid, r, None, run))
            out = folder / run / "eval" / "mc" / "syn"
            per_task = {}
            for k, b in enumerate(beta):
                y = x @ b + item_effect[k] + rng.normal(0, seed_sd) + rng.normal(0, noise_sd, items)
                write_mc_items(out / "items" / f"t{k}.jsonl", [McItem(idx=i, prompt=f"item {i}", acc=float(v)) for i, v in enumerate(y)])
                per_task[f"t{k}"] = {"n": items, "version": 1, "type": "multiple_choice", "metric": "acc", "category": "synthetic",
                                     "random_baseline": 0.25, "group": None, "acc": float(y.mean()), "acc_stderr": 0.0,
                                     "score": float(y.mean()), "seconds": 0.0}
            McResults.from_dict({"schema_version": 1, "model": run, "model_path": run, "created": "2026-12-01T00:00:00+00:00",
                                 "label": "syn", "limit": None, "data_dir": [], "tasks": per_task, "groups": {},
                                 "gauntlet": {"average": None, "stderr": None, "categories": {}}, "results_dir": str(out)},
                                path=out / "results.json").write(out / "results.json")
            steps.append(_step(f"eval:{cid}:r{r}:syn", "eval", cid, r, "syn", f"{run}/eval/mc/syn"))
    StudyRecord(schema_version=1, name="syn", spec_path=str(spec_path), spec=study.to_dict(), spec_hash=study.spec_hash(), seed=0,
                replicates=replicates, base=cells[0].manifest, cells=cells, steps=steps, created_at="2026-12-01T00:00:00+00:00",
                updated_at="2026-12-01T00:00:00+00:00", mixwise="test").write(folder / "study.json")
    return folder


def _step(sid: str, kind: str, cell: str, rep: int | None, ev: str | None, output: str) -> Step:
    return Step(id=sid, kind=kind, cell=cell, replicate=rep, eval=ev, fingerprint="synthetic", status="done", output=output,
                error=None, started_at=None, finished_at=None, seconds=1.0, attempts=1)
