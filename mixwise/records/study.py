"""The study records: ``studies/<name>/study.json`` (cells and steps) and ``studies/<name>/fit.json`` (the fit).

``study.json`` is written by ``mixwise ablate`` after every step, by one
process only (workers report back to it), so a re-run knows what is done: each
step keeps its fingerprint (a hash of everything its result depends on), its
status and its error. Paths inside are relative to the study folder, so a study
folder can be moved or committed whole. ``fit.json`` is written by ``mixwise
study fit`` and read by ``mixwise report``.

Statuses: ``pending`` (not run, or its inputs changed), ``running`` (a run was
interrupted while it ran: it is redone, a training from its last checkpoint),
``done``, ``failed`` (its error is kept; ``--retry-failed`` runs it again).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from mixwise.records.base import Record, may_be_absent

STUDY_FILE = "study.json"
FIT_FILE = "fit.json"
STATUSES = ("pending", "running", "done", "failed")
STEP_KINDS = ("mix", "train", "eval")


@dataclass(frozen=True, kw_only=True)
class CellManifest:
    """The manifest a cell's mix step built."""

    name: str
    version: str
    path: str
    """The manifest folder, relative to the study folder."""
    samples: int
    tokens: int
    """Estimated tokens (the manifest's token estimate)."""


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One mixture of the study."""

    id: str
    """``base``, a design cell (``without-assistant``, ``assistant-0.25``, ``mix-03``, a list name) or ``proposed``."""
    origin: str
    """base, design or proposed."""
    shares: dict[str, float]
    """Nominal share per component of the base mixture."""
    counts: dict[str, int]
    """Samples per component asked of the mix."""
    param: dict[str, Any] | None
    """A swept per-source parameter: {component, param, value}; null otherwise."""
    spec: dict[str, Any]
    """The cell's mixture spec (canonical form), a child of the base spec."""
    manifest: CellManifest | None
    """Set once the mix step is done."""
    parts: dict[str, float] | None
    """Realised share per composition part (a component, or component/source for a per-source one): the fit's inputs."""
    composition: dict[str, dict[str, float] | None] | None
    """Realised shares per axis (component, source, style, quality); an axis the manifest does not record is null."""


@dataclass(frozen=True, kw_only=True)
class Step:
    """One unit of work: a mix, a training of one replicate, or one evaluation of one replicate."""

    id: str
    """``mix:<cell>``, ``train:<cell>:r<k>``, ``eval:<cell>:r<k>:<eval>``."""
    kind: str
    cell: str
    replicate: int | None
    eval: str | None
    fingerprint: str
    """Hash of the step's inputs; a changed fingerprint makes a done step pending again."""
    status: str
    output: str | None
    """Manifest folder, run folder or result folder, relative to the study folder."""
    error: str | None
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    attempts: int

    @property
    def done(self) -> bool:
        return self.status == "done"

    def reset(self, fingerprint: str | None = None) -> "Step":
        """This step made pending again (with a new fingerprint when its inputs changed)."""
        return replace(self, fingerprint=fingerprint or self.fingerprint, status="pending", output=None, error=None,
                       started_at=None, finished_at=None, seconds=None)


@dataclass(frozen=True, kw_only=True)
class StudyRecord(Record):
    """``studies/<name>/study.json``."""

    SCHEMA_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "study record"
    FIX: ClassVar[str] = "re-create it with: mixwise ablate STUDY.yaml (finished steps are found again by fingerprint)"
    SORT_KEYS: ClassVar[bool] = True

    schema_version: int
    name: str
    spec_path: str
    """The study file, as given to ``mixwise ablate``."""
    spec: dict[str, Any]
    """The study spec (canonical form) including the base mixture spec."""
    spec_hash: str
    seed: int
    replicates: int
    base: CellManifest | None
    """The base mixture's own manifest (every cell's parent); null until built."""
    cells: list[Cell]
    steps: list[Step]
    created_at: str
    updated_at: str
    mixwise: str
    """mixwise version that last wrote the record."""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def cell(self, cell_id: str) -> Cell:
        for c in self.cells:
            if c.id == cell_id:
                return c
        raise KeyError(cell_id)

    def counts(self) -> dict[str, int]:
        """Steps per status."""
        out = {s: 0 for s in STATUSES}
        for st in self.steps:
            out[st.status] += 1
        return out


# -- the fit ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CvScore:
    """Leave-one-cell-out cross-validation of one model."""

    rmse: float | None
    rho: float | None
    """Spearman's rank correlation of predicted vs observed cell means."""
    cells_predicted: int


@dataclass(frozen=True, kw_only=True)
class Curve:
    """Predictions along a line through the design (a sweep's share), for the response-curve figure."""

    variable: str
    x: list[float]
    pred: list[float]
    lo: list[float]
    hi: list[float]


@dataclass(frozen=True, kw_only=True)
class TaskFitRecord:
    """One task's cell means, differences from the base cell and mixture regression."""

    metric: str
    baseline: float | None
    """Random-guess baseline (chance normalisation); null for tasks without one."""
    proxy: bool
    """A judge-free stand-in for a judge: label it as a proxy wherever it is shown."""
    n_items: int
    unpaired_items: int
    replicates: list[int]
    replicate_sd: float | None
    """Training-seed standard deviation of the task score (variance component)."""
    replicate_df: int
    item_se: list[float | None]
    """Per cell: the standard error of its mean over items."""
    mean: list[float]
    lo: list[float]
    hi: list[float]
    delta: list[float]
    """Cell minus base cell (paired over items)."""
    delta_lo: list[float]
    delta_hi: list[float]
    delta_p: list[float | None]
    delta_q: list[float | None]
    """BH q-values over every cell x task difference of the study."""
    p_any: float | None
    """Max-t test that some cell differs from the base cell."""
    q_any: float | None
    """BH q-value of p_any over the study's tasks."""
    model: str | None
    terms: list[str]
    beta: list[float] | None
    beta_lo: list[float] | None
    beta_hi: list[float] | None
    cv: dict[str, CvScore]
    refused: str | None
    """Why no model was fitted (too few distinct cells), else null."""
    curve: Curve | None


@dataclass(frozen=True, kw_only=True)
class ProposalRecord:
    """The mixture that maximises the objective within the design's range, by the fitted models."""

    shares: dict[str, float]
    """Over the base's components."""
    x: list[float]
    """Over the fit variables."""
    objective: float
    objective_lo: float
    objective_hi: float
    predicted: dict[str, list[float]]
    """Task -> [prediction, lo, hi]."""
    bounds: dict[str, list[float]]
    constraints: list[dict[str, Any]]
    spec_path: str
    """The ready mixture spec (relative to the study folder)."""
    observed: dict[str, list[float]] | None = may_be_absent()
    """After ``study fit --validate``: task -> [observed mean, lo, hi]."""


@dataclass(frozen=True, kw_only=True)
class StudyFitRecord(Record):
    """``studies/<name>/fit.json``."""

    SCHEMA_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "study fit"
    FIX: ClassVar[str] = "re-create it with: mixwise study fit NAME"
    SORT_KEYS: ClassVar[bool] = True

    schema_version: int
    study: str
    spec_hash: str
    created_at: str
    draws: int
    seed: int
    cells: list[str]
    """Cells with results, in study order (failed or unscored cells are in ``missing``)."""
    missing: dict[str, str]
    """Cell -> why it has no results."""
    base_cell: str
    components: list[str]
    variables: list[str]
    """The fit's regressors: components, or groups that always moved together."""
    x: list[list[float]]
    """Per cell, its share of each variable."""
    tasks: dict[str, TaskFitRecord]
    tested: int
    """Tasks with a test of "some cell differs from the base cell"."""
    moved: list[str]
    """Tasks that moved beyond noise (BH q < q_threshold)."""
    q_threshold: float
    objective: dict[str, Any]
    proposal: ProposalRecord | None
    proposal_refused: str | None


__all__ = ["FIT_FILE", "STATUSES", "STEP_KINDS", "STUDY_FILE", "Cell", "CellManifest", "Curve", "CvScore", "ProposalRecord",
           "Step", "StudyFitRecord", "StudyRecord", "TaskFitRecord"]
