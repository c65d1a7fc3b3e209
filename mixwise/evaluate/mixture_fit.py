"""Score ~ mixture composition: the statistical engine behind ``study fit`` and ``attribute``.

Pure numpy over arrays; no files. The input is a set of *cells* (mixtures, each
a vector of component shares that sums to 1), each trained with one or more
*replicates* (training seeds) and scored per *item* on one or more *tasks*
(the same items in every cell, so cells pair item by item).

What it computes, per task:

- **Cell means** with a two-level bootstrap: items are resampled with
  replacement (the same draw for every cell, which keeps the pairing), and
  replicate (seed) deviations are resampled within the task. Seed deviations
  are pooled across cells (seed noise is assumed alike across cells) and
  inflated by ``sqrt(R / (R - 1))`` so that two replicates per cell still give
  an unbiased seed variance; both kinds of noise are inside every interval.
- **Differences from the base cell** with percentile intervals, centred
  bootstrap p-values, and per task a max-t test of "some cell differs from the
  base" (one p-value per task, family-wise over its cells).
- **A Scheffé mixture regression** of the cell means on the shares: linear
  (``score = sum_j b_j x_j``; ``b_j`` is the score of a mixture made only of
  component j) or with quadratic blending terms (``b_jk x_j x_k``) when there
  are enough distinct cells. The model is chosen by leave-one-cell-out
  cross-validation (RMSE, ties to the simpler one) and reported with its
  Spearman rho and RMSE. Coefficients and predictions carry bootstrap
  intervals (the fit is linear in the cell means, so each draw is one matrix
  product). Fewer distinct cells than parameters is refused.
- **Benjamini-Hochberg** q-values across tasks (and across cell x task cells of
  a heatmap).

:func:`propose` maximises an objective (weighted, chance-normalised task
scores, with optional constraints) over the region the cells span.

Example::

    fit = fit_study(shares, names, tasks, base=0, draws=2000, seed=0)
    fit.tasks["arc_easy"].coefficients            # per variable, with intervals
    propose(fit, weights={"arc_easy": 1.0})
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from mixwise.errors import MixwiseError

MODELS = ("linear", "quadratic")
#: shares closer than this are the same composition ("distinct cells" are counted after rounding)
SHARE_DECIMALS = 6


class UnderdeterminedError(MixwiseError):
    """The design has too few distinct cells for the model's parameters."""


# ---- inputs --------------------------------------------------------------------------------------


@dataclass
class TaskObs:
    """One task's per-item scores: ``y[k]`` is observation k's item vector, ``cell[k]`` its cell index.

    An observation is one replicate (training seed) of one cell. ``y`` may hold NaN for an
    item an observation did not score; only items every observation scored are used
    (``unpaired`` counts the others).
    """

    name: str
    y: np.ndarray  # (n_obs, n_items) float
    cell: np.ndarray  # (n_obs,) int
    metric: str = "acc"
    baseline: float | None = None  # random-guess baseline for chance normalisation
    proxy: bool = False  # a judge-free stand-in for a judge (labelled everywhere)

    def paired(self) -> tuple[np.ndarray, int]:
        """(y restricted to items every observation scored, number of items dropped)."""
        ok = ~np.isnan(self.y).any(axis=0)
        return self.y[:, ok], int((~ok).sum())


# ---- fit variables: which directions the design actually varies --------------------------------------


@dataclass
class Variables:
    """The regressors: groups of components whose shares move together, renormalised to sum to 1.

    Components always in the same proportion to each other are one variable (a sweep's
    "rest"); components whose share never changes are absorbed (``fixed``), and the others
    are rescaled by ``1 / (1 - fixed share)``.
    """

    names: list[str]
    groups: list[list[int]]  # component indices per variable
    fixed: list[int]
    x: np.ndarray  # (n_cells, n_vars)


def fit_variables(shares: np.ndarray, components: list[str], tol: float = 1e-6) -> Variables:
    """Reduce component shares (cells x components) to identifiable mixture variables."""
    shares = np.asarray(shares, dtype=float)
    k = shares.shape[1]
    fixed = [j for j in range(k) if np.ptp(shares[:, j]) <= tol]
    free = [j for j in range(k) if j not in fixed]
    groups: list[list[int]] = []
    for j in free:
        for g in groups:
            a, b = shares[:, g[0]], shares[:, j]
            if np.array_equal(a > tol, b > tol) and np.ptp(b[a > tol] / a[a > tol]) <= tol * 10:
                g.append(j)
                break
        else:
            groups.append([j])
    x = np.stack([shares[:, g].sum(axis=1) for g in groups], axis=1) if groups else np.zeros((len(shares), 0))
    total = x.sum(axis=1, keepdims=True)
    x = np.divide(x, total, out=np.zeros_like(x), where=total > 0)
    names = [components[g[0]] if len(g) == 1 else "+".join(components[i] for i in g) for g in groups]
    return Variables(names, groups, fixed, x)


def design_matrix(x: np.ndarray, model: str) -> np.ndarray:
    """Scheffé terms: the shares (linear), plus every pairwise product x_j x_k (quadratic)."""
    if model == "linear":
        return x
    pairs = [x[:, i] * x[:, j] for i, j in itertools.combinations(range(x.shape[1]), 2)]
    return np.column_stack([x, *pairs]) if pairs else x


def term_names(names: list[str], model: str) -> list[str]:
    """Names of the design matrix's columns."""
    if model == "linear":
        return list(names)
    return [*names, *(f"{a} x {b}" for a, b in itertools.combinations(names, 2))]


def n_params(n_vars: int, model: str) -> int:
    return n_vars if model == "linear" else n_vars + n_vars * (n_vars - 1) // 2


def distinct_cells(x: np.ndarray) -> np.ndarray:
    """Group index per cell: cells with the same composition share a group."""
    _, inverse = np.unique(np.round(x, SHARE_DECIMALS), axis=0, return_inverse=True)
    return inverse.reshape(-1)


def check_determined(x: np.ndarray, model: str = "linear", *, what: str = "the fit") -> None:
    """Raise :class:`UnderdeterminedError` when distinct cells <= parameters (or the terms are collinear)."""
    n_distinct = int(distinct_cells(x).max()) + 1 if len(x) else 0
    p = n_params(x.shape[1], model)
    if x.shape[1] < 2:
        raise UnderdeterminedError(f"{what}: the cells do not vary the composition (at most one mixture variable)",
                                   "vary at least one component's share across cells")
    if n_distinct <= p:
        need = p + 1 - n_distinct
        raise UnderdeterminedError(
            f"{what}: a {model} mixture model over {x.shape[1]} variables has {p} parameters but the design has "
            f"{n_distinct} distinct cells", f"add at least {need} more distinct cell{'s' if need > 1 else ''} "
            "(or compare cells pairwise: mixwise study show / mixwise attribute)")
    uniq = np.unique(np.round(x, SHARE_DECIMALS), axis=0)
    if np.linalg.matrix_rank(design_matrix(uniq, model)) < p:
        raise UnderdeterminedError(f"{what}: the cells' compositions are collinear for a {model} model",
                                   "add cells that vary the shares independently (e.g. a simplex design)")


# ---- least squares ---------------------------------------------------------------------------------


def hat(f: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The matrix H with beta = H @ means for weighted least squares (weights w per cell)."""
    fw = f * w[:, None]
    return np.linalg.pinv(f.T @ fw) @ fw.T


def loco_cv(x: np.ndarray, means: np.ndarray, w: np.ndarray, model: str) -> dict:
    """Leave-one-distinct-cell-out predictions: RMSE and Spearman rho of predicted vs observed means."""
    groups = distinct_cells(x)
    f = design_matrix(x, model)
    pred = np.full(len(x), np.nan)
    for g in np.unique(groups):
        out = groups == g
        fin, win = f[~out], w[~out]
        if np.linalg.matrix_rank(fin) < f.shape[1]:
            continue  # this cell is needed to identify a term: no honest prediction for it
        pred[out] = f[out] @ (hat(fin, win) @ means[~out])
    ok = ~np.isnan(pred)
    if ok.sum() < 2:
        return {"rmse": None, "rho": None, "predicted": pred.tolist(), "cells_predicted": int(ok.sum())}
    rmse = float(np.sqrt(np.average((pred[ok] - means[ok]) ** 2, weights=w[ok])))
    return {"rmse": rmse, "rho": spearman(pred[ok], means[ok]), "predicted": pred.tolist(), "cells_predicted": int(ok.sum())}


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when either side is constant."""
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=float)
    for val in np.unique(v):  # ties get their average rank
        tie = v == val
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def choose_model(x: np.ndarray, means: np.ndarray, w: np.ndarray) -> tuple[str, dict[str, dict]]:
    """Pick linear or quadratic by leave-one-cell-out RMSE; quadratic only when the design determines it."""
    scores: dict[str, dict] = {}
    for model in MODELS:
        try:
            check_determined(x, model)
        except UnderdeterminedError:
            continue
        scores[model] = loco_cv(x, means, w, model)
    if not scores:
        check_determined(x, "linear")  # raises with the message
    best = "linear"
    q = scores.get("quadratic")
    if q and q["rmse"] is not None and (scores["linear"]["rmse"] is None or q["rmse"] < scores["linear"]["rmse"] * 0.99):
        best = "quadratic"
    return best, scores


# ---- the two-level bootstrap ---------------------------------------------------------------------


def item_weights(n_items: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, n_items) multinomial counts: each row is one resample of the items, with replacement."""
    picks = rng.integers(0, n_items, size=(draws, n_items)) + (np.arange(draws) * n_items)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * n_items).reshape(draws, n_items).astype(float)


def bootstrap_cell_means(y: np.ndarray, cell: np.ndarray, n_cells: int, draws: int, rng: np.random.Generator,
                         weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Observed cell means (n_cells,) and bootstrap draws (n_cells, draws), plus the noise summary.

    Level 2 (items): every cell's item mean is re-weighted by the same multinomial draw.
    Level 1 (seeds): each cell gets a seed term with the variance of a mean of its replicates.
    The seed variance is pooled over cells (seed noise is assumed alike across cells) and
    estimated by the method of moments: a replicate's deviation from its cell also holds item x
    replicate noise, which level 2 already carries, so that part is subtracted (0 when seeds add
    nothing beyond it). Each draw takes its own seed variance from the estimate's scaled inverse
    chi-square distribution (sum over cells of replicates - 1 degrees of freedom).
    ``replicate_sd`` is that seed component: the training-seed standard deviation of the task score.
    """
    n_obs, n_items = y.shape
    reps = np.bincount(cell, minlength=n_cells)
    if (reps == 0).any():
        raise MixwiseError(f"cells {np.flatnonzero(reps == 0).tolist()} have no observation", "score every cell before fitting")
    obs_mean = y.mean(axis=1)  # each replicate's task score
    cell_items = np.zeros((n_cells, n_items))
    np.add.at(cell_items, cell, y)
    cell_items /= reps[:, None]
    means = cell_items.mean(axis=1)
    w = item_weights(n_items, draws, rng) if weights is None else weights
    boot = cell_items @ w.T / n_items  # (n_cells, draws)
    dev = obs_mean - means[cell]
    seed_df = int((reps - 1).sum())
    seed_var = None
    if seed_df:
        # Variance components: a replicate's deviation holds seed noise *and* item x replicate noise
        # (var / n_items), which the item resampling above already carries; keep only the seed part.
        inter = y - cell_items[cell] - dev[:, None]
        noise_var = float((inter**2).sum() / max(seed_df * (n_items - 1), 1))
        dev_var = float((dev**2).sum() / seed_df)
        seed_var = max(dev_var - noise_var / n_items, 0.0)
        # With few replicates the seed variance is itself uncertain (seed_df degrees of freedom):
        # each draw takes its own value from the scaled inverse chi-square around the estimate,
        # which gives the t-like tails a plug-in variance would lack.
        var_draws = np.maximum(dev_var * seed_df / rng.chisquare(seed_df, size=draws) - noise_var / n_items, 0.0)
        # A cell's seed term is normal: a task score averages many items, and a pool of a few
        # replicate deviations would give the draws tails too light for small p-values.
        boot += rng.standard_normal((n_cells, draws)) * np.sqrt(var_draws[None, :] / reps[:, None])
    seed_sd = float(np.sqrt(seed_var)) if seed_var is not None else None
    item_se = [float(cell_items[c].std(ddof=1) / np.sqrt(n_items)) if n_items > 1 else None for c in range(n_cells)]
    return means, boot, {"replicate_sd": seed_sd, "replicate_df": seed_df, "item_se": item_se, "replicates": reps.tolist()}


def bh(pvalues) -> np.ndarray:
    """Benjamini-Hochberg q-values (NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if not m:
        return q
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def _interval(draws: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    a = (1 - level) / 2
    return np.quantile(draws, a, axis=-1), np.quantile(draws, 1 - a, axis=-1)


def _pvalue(center: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Two-sided centred bootstrap p-value of est = 0: share of |draw - est| >= |est| (with the +1 rule)."""
    dev = np.abs(center - est[..., None])
    return (1 + (dev >= np.abs(est)[..., None]).sum(axis=-1)) / (center.shape[-1] + 1)


# ---- per task ----------------------------------------------------------------------------------


@dataclass
class TaskFit:
    """Everything fitted for one task (see the module docstring)."""

    name: str
    metric: str
    baseline: float | None
    proxy: bool
    n_items: int
    unpaired_items: int
    cell_means: np.ndarray
    cell_lo: np.ndarray
    cell_hi: np.ndarray
    delta: np.ndarray  # cell - base
    delta_lo: np.ndarray
    delta_hi: np.ndarray
    delta_p: np.ndarray
    p_any: float | None  # max-t: some cell differs from the base
    noise: dict
    model: str | None = None
    terms: list[str] = field(default_factory=list)
    beta: np.ndarray | None = None
    beta_lo: np.ndarray | None = None
    beta_hi: np.ndarray | None = None
    beta_draws: np.ndarray | None = None  # (n_terms, draws)
    cv: dict = field(default_factory=dict)
    refused: str | None = None
    q_any: float | None = None
    delta_q: np.ndarray | None = None

    def normalise(self, v):
        """Chance-normalised as the Eval Gauntlet does: (score - baseline) / (1 - baseline)."""
        if self.baseline is None:
            return v
        return (np.asarray(v) - self.baseline) / (1 - self.baseline)


def fit_task(obs: TaskObs, x: np.ndarray, *, base: int = 0, draws: int = 2000, seed: int = 0,
             model: str | None = None, fit: bool = True) -> TaskFit:
    """Cell means, differences from ``base`` and (when ``fit``) the mixture regression for one task."""
    rng = np.random.default_rng(seed)
    y, unpaired = obs.paired()
    if y.shape[1] == 0:
        raise MixwiseError(f"task {obs.name!r}: no item was scored by every replicate of every cell",
                           "evaluate every run on the same items (same --limit)")
    n_cells = len(x)
    means, boot, noise = bootstrap_cell_means(y, np.asarray(obs.cell), n_cells, draws, rng)
    lo, hi = _interval(boot)
    d, dboot = means - means[base], boot - boot[base]
    dlo, dhi = _interval(dboot)
    p = _pvalue(dboot, d)
    p[base] = np.nan
    others = [c for c in range(n_cells) if c != base]
    p_any = None
    if others:
        sd = dboot[others].std(axis=1, ddof=1)
        sd = np.where(sd > 0, sd, np.inf)
        t_obs = np.max(np.abs(d[others]) / sd)
        t_null = np.max(np.abs(dboot[others] - d[others, None]) / sd[:, None], axis=0)
        p_any = float((1 + (t_null >= t_obs).sum()) / (draws + 1))
    tf = TaskFit(obs.name, obs.metric, obs.baseline, obs.proxy, y.shape[1], unpaired, means, lo, hi, d, dlo, dhi, p, p_any, noise)
    if not fit:
        return tf
    w = np.bincount(np.asarray(obs.cell), minlength=n_cells).astype(float)
    try:
        chosen, cv = choose_model(x, means, w) if model is None else (model, {model: loco_cv(x, means, w, model)})
        check_determined(x, chosen)
    except UnderdeterminedError as e:
        tf.refused = e.line()
        return tf
    f = design_matrix(x, chosen)
    h = hat(f, w)
    tf.model, tf.terms, tf.cv = chosen, [], cv
    tf.beta, tf.beta_draws = h @ means, h @ boot
    tf.beta_lo, tf.beta_hi = _interval(tf.beta_draws)
    return tf


def predict(tf: TaskFit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction, lo, hi) of the task's score at compositions ``x`` (n, n_vars)."""
    if tf.beta is None:
        raise MixwiseError(f"task {tf.name!r} has no fitted model ({tf.refused})", "add cells or compare pairwise")
    f = design_matrix(np.atleast_2d(x), tf.model)
    draws = f @ tf.beta_draws
    lo, hi = _interval(draws)
    return f @ tf.beta, lo, hi


# ---- the whole study ---------------------------------------------------------------------------


@dataclass
class StudyFit:
    """Per-task fits over one set of cells, with BH across tasks."""

    variables: Variables
    components: list[str]
    shares: np.ndarray  # (n_cells, n_components) as given
    base: int
    tasks: dict[str, TaskFit]
    draws: int
    seed: int

    @property
    def tested(self) -> int:
        return sum(1 for t in self.tasks.values() if t.p_any is not None)

    def moved(self, q: float = 0.05) -> list[str]:
        """Tasks whose score moved beyond noise (BH q-value of the max-t test below ``q``)."""
        return [n for n, t in self.tasks.items() if t.q_any is not None and t.q_any < q]


def fit_study(shares: np.ndarray, components: list[str], tasks: list[TaskObs], *, base: int = 0, draws: int = 2000,
              seed: int = 0, model: str | None = None, fit: bool = True) -> StudyFit:
    """Fit every task over the same cells; add BH q-values across tasks and across cell x task differences."""
    shares = np.asarray(shares, dtype=float)
    variables = fit_variables(shares, components)
    fits: dict[str, TaskFit] = {}
    for k, obs in enumerate(tasks):
        tf = fit_task(obs, variables.x, base=base, draws=draws, seed=seed + 1000 * k, model=model, fit=fit)
        if tf.model is not None:
            tf.terms = term_names(variables.names, tf.model)
        fits[obs.name] = tf
    names = [n for n, t in fits.items() if t.p_any is not None]
    for n, q in zip(names, bh([fits[n].p_any for n in names])):
        fits[n].q_any = float(q)
    flat = np.concatenate([t.delta_p for t in fits.values()]) if fits else np.zeros(0)
    qs = bh(flat)
    at = 0
    for t in fits.values():
        t.delta_q = qs[at:at + len(t.delta_p)]
        at += len(t.delta_p)
    return StudyFit(variables, list(components), shares, base, fits, draws, seed)


# ---- the proposed mixture ----------------------------------------------------------------------------


@dataclass
class Proposal:
    """The composition that maximises the objective within bounds, with predicted scores."""

    x: np.ndarray  # over the fit variables
    shares: dict[str, float]  # over the original components
    objective: float
    objective_lo: float
    objective_hi: float
    predicted: dict[str, tuple[float, float, float]]  # task -> (pred, lo, hi)
    bounds: dict[str, tuple[float, float]]
    constraints: list[dict]
    candidates: int


def _objective_draws(fit: StudyFit, weights: dict[str, float], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Objective value at compositions x (n, v) and its bootstrap draws (n, draws)."""
    total = np.zeros(len(x))
    draws = np.zeros((len(x), fit.draws))
    for name, wt in weights.items():
        tf = fit.tasks[name]
        f = design_matrix(x, tf.model)
        scale = 1.0 / (1 - tf.baseline) if tf.baseline is not None else 1.0
        shift = tf.baseline or 0.0
        total += wt * (f @ tf.beta - shift) * scale
        draws += wt * (f @ tf.beta_draws - shift) * scale
    return total, draws


def propose(fit: StudyFit, weights: dict[str, float], *, bounds: dict[str, tuple[float, float]] | None = None,
            constraints: list[dict] | None = None, samples: int = 20000, seed: int = 0) -> Proposal:
    """Maximise ``sum_t w_t * normalised score_t`` over compositions within ``bounds``.

    ``bounds`` map fit variables to (min, max) shares; by default the range the cells
    span, so the proposal never extrapolates beyond the design. ``constraints``:
    ``{"task": name, "min": value}`` on the predicted (raw) score. The search is a
    seeded dense sample of the bounded simplex plus its vertices, refined locally.
    """
    v = fit.variables
    missing = [n for n in weights if n not in fit.tasks]
    if missing:
        raise MixwiseError(f"objective names unknown tasks {missing}", f"known: {', '.join(fit.tasks)}")
    unfit = [n for n in weights if fit.tasks[n].beta is None]
    if unfit:
        raise UnderdeterminedError(f"cannot propose a mixture: tasks {unfit} have no fitted model ({fit.tasks[unfit[0]].refused})",
                                   "add cells (see study fit's message) before asking for a proposal")
    lo = v.x.min(axis=0).copy()
    hi = v.x.max(axis=0).copy()
    for name, (a, b) in (bounds or {}).items():
        if name not in v.names:
            raise MixwiseError(f"bound on unknown variable {name!r}", f"known: {', '.join(v.names)}")
        j = v.names.index(name)
        lo[j], hi[j] = max(lo[j], a), min(hi[j], b)
    if lo.sum() > 1 + 1e-9 or hi.sum() < 1 - 1e-9 or (lo > hi + 1e-12).any():
        raise MixwiseError("the bounds leave no composition whose shares sum to 1", "widen the min/max bounds")
    rng = np.random.default_rng(seed)
    cand = _feasible_samples(lo, hi, samples, rng)
    cons = constraints or []
    ok = np.ones(len(cand), dtype=bool)
    for c in cons:
        tf = fit.tasks[c["task"]]
        ok &= design_matrix(cand, tf.model) @ tf.beta >= c["min"]
    if not ok.any():
        raise MixwiseError("no composition inside the bounds meets the constraints by the fitted model",
                           "relax the constraints or widen the bounds")
    cand = cand[ok]
    value, _ = _objective_draws(fit, weights, cand)
    best = cand[int(np.argmax(value))]
    val, draws = _objective_draws(fit, weights, best[None, :])
    olo, ohi = _interval(draws[0])
    predicted = {}
    for name, tf in fit.tasks.items():
        if tf.beta is not None:
            p, a, b = predict(tf, best[None, :])
            predicted[name] = (float(p[0]), float(a[0]), float(b[0]))
    shares = _to_components(fit, best)
    return Proposal(best, shares, float(val[0]), float(olo), float(ohi), predicted,
                    {n: (float(lo[j]), float(hi[j])) for j, n in enumerate(v.names)}, cons, int(len(cand)))


def _feasible_samples(lo: np.ndarray, hi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Points of {x : lo <= x <= hi, sum x = 1}: Dirichlet draws mapped into the box, plus the box's vertices on the simplex."""
    k = len(lo)
    free = 1 - lo.sum()
    span = hi - lo
    pts = lo + free * rng.dirichlet(np.ones(k), size=n * 4)
    pts = pts[(pts <= hi + 1e-12).all(axis=1)][:n]
    verts = []
    for j in range(k):  # greedy vertices: fill one variable to its max first, then the rest in order
        order = [j, *[i for i in range(k) if i != j]]
        x, left = lo.copy(), free
        for i in order:
            add = min(span[i], left)
            x[i] += add
            left -= add
        if left <= 1e-12:
            verts.append(x)
    return np.vstack([pts, *verts]) if verts else pts


def _to_components(fit: StudyFit, x: np.ndarray) -> dict[str, float]:
    """Shares over the original components for a point over the fit variables.

    Fixed components keep their share; a merged group keeps its members' base-cell proportions.
    """
    v, base = fit.variables, fit.shares[fit.base]
    out = {c: 0.0 for c in fit.components}
    fixed_total = sum(base[j] for j in v.fixed)
    for j in v.fixed:
        out[fit.components[j]] = float(base[j])
    for xi, g in zip(x, v.groups):
        inner = base[g] / base[g].sum() if base[g].sum() > 0 else np.full(len(g), 1 / len(g))
        for i, frac in zip(g, inner):
            out[fit.components[i]] = float(xi * (1 - fixed_total) * frac)
    return out


__all__ = ["Proposal", "StudyFit", "TaskFit", "TaskObs", "UnderdeterminedError", "Variables", "bh", "bootstrap_cell_means",
           "check_determined", "choose_model", "design_matrix", "distinct_cells", "fit_study", "fit_task", "fit_variables",
           "loco_cv", "predict", "propose", "spearman"]
