"""``mixwise study fit --validate``: train and score the proposed mixture, and compare prediction with observation.

The proposal is fitted on the design's cells only; it then becomes a cell of
the study (``proposed``, origin ``proposed``) with the same replicates and
evaluations, run by the same runner (resumable), and its observed scores (mean
and 95% interval over items and replicates) are written next to the
predictions in ``fit.json``. The proposed cell never enters a later fit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mixwise.errors import MixwiseError
from mixwise.records.study import FIT_FILE, STUDY_FILE, Cell, StudyFitRecord
from mixwise.study.design import child_spec, largest_remainder
from mixwise.study.fit import fit_study_dir, load, scores_and_fit

PROPOSED = "proposed"


def proposed_cell(study, shares: dict[str, float], total: int) -> Cell:
    comp: dict[str, float] = {}
    for part, s in shares.items():
        comp[part.split("/", 1)[0]] = comp.get(part.split("/", 1)[0], 0.0) + s
    counts = largest_remainder({c.name: comp.get(c.name, 0.0) for c in study.base.components}, total)
    spec = child_spec(study, PROPOSED, counts)
    return Cell(id=PROPOSED, origin="proposed", shares={k: v / total for k, v in counts.items()}, counts=counts, param=None,
                spec=spec.to_dict(), manifest=None, parts=None, composition=None)


def validate_proposal(folder: str | Path, *, draws: int = 2000, jobs: int = 1, workspace=None, studies=None, on_event=None) -> StudyFitRecord:
    """Fit, add the proposal as a cell, run it, and record observed vs predicted."""
    from mixwise.study.runner import ablate

    fit = fit_study_dir(folder, draws=draws)
    if fit.proposal is None:
        raise MixwiseError(f"study {fit.study}: nothing to validate: {fit.proposal_refused}", "add cells, then fit again")
    folder, record, study = load(folder)
    total = record.base.samples if record.base else sum(record.cells[0].counts.values())
    cell = proposed_cell(study, fit.proposal.shares, total)
    cells = [c for c in record.cells if c.id != PROPOSED] + [cell]
    replace(record, cells=cells).write(Path(folder) / STUDY_FILE)
    ablate(record.spec_path, jobs=jobs, workspace=workspace, studies=studies or Path(folder).parent, on_event=on_event)
    folder, record, study = load(folder)
    scores, sf = scores_and_fit(folder, record, study, draws=draws, fit=False, include_proposed=True)
    ids = [c.id for c in scores.cells]
    if PROPOSED not in ids:
        raise MixwiseError(f"the proposed cell has no results: {scores.missing.get(PROPOSED, 'not run')}",
                           f"see: mixwise study show {record.name}")
    i = ids.index(PROPOSED)
    observed = {n: [float(t.cell_means[i]), float(t.cell_lo[i]), float(t.cell_hi[i])] for n, t in sf.tasks.items()}
    fit = replace(fit, proposal=replace(fit.proposal, observed=observed))
    fit.write(Path(folder) / FIT_FILE)
    return fit


__all__ = ["PROPOSED", "proposed_cell", "validate_proposal"]
