"""The attribution engine against known truth: coverage, null calibration under BH, the optimum, refusals.

Synthetic studies: per-item scores are a known linear function of the shares
plus a training-seed effect per replicate, an item effect shared by every cell
(items pair across cells) and item x replicate noise. Each test draws its data
and its bootstrap with separate generators, as real data and the bootstrap are.
"""

from __future__ import annotations

import numpy as np
import pytest

from mixwise.evaluate.mixture_fit import (TaskObs, UnderdeterminedError, bh, check_determined, fit_study, fit_variables,
                                          predict, propose, spearman)

SHARES = np.array([[1 / 3, 1 / 3, 1 / 3], [0, .5, .5], [.5, 0, .5], [.5, .5, 0], [.6, .2, .2], [.2, .6, .2], [.2, .2, .6]])
COMPONENTS = ["a", "b", "c"]


def synth(seed: int, beta: np.ndarray, *, shares=SHARES, replicates=2, items=300, seed_sd=0.01, item_sd=0.15, noise_sd=0.3):
    """One TaskObs per row of ``beta``."""
    rng = np.random.default_rng(10_000 + seed)
    tasks = []
    for t, b in enumerate(beta):
        item = rng.normal(0, item_sd, items)
        ys, cells = [], []
        for c, x in enumerate(shares):
            for _ in range(replicates):
                ys.append(x @ b + item + rng.normal(0, seed_sd) + rng.normal(0, noise_sd, items))
                cells.append(c)
        tasks.append(TaskObs(f"t{t}", np.array(ys), np.array(cells)))
    return tasks


def test_coefficients_are_covered_at_the_nominal_rate():
    beta = np.array([[0.40, 0.50, 0.60], [0.30, 0.30, 0.35], [0.70, 0.60, 0.50]])
    hits = []
    for s in range(120):
        fit = fit_study(SHARES, COMPONENTS, synth(s, beta, seed_sd=0.02), draws=600, seed=s, model="linear")
        for k, tf in enumerate(fit.tasks.values()):
            hits += list((tf.beta_lo <= beta[k]) & (beta[k] <= tf.beta_hi))
    coverage = float(np.mean(hits))
    assert 0.91 <= coverage <= 0.99, coverage  # 95% intervals; 1,080 coefficient checks (binomial SE ~0.7 pts)


def test_null_effect_claims_nothing_in_95_percent_of_seeds():
    beta = np.full((4, 3), 0.5)  # no task depends on the composition
    claims = 0
    for s in range(200):
        fit = fit_study(SHARES, COMPONENTS, synth(s, beta), draws=600, seed=s, fit=False)
        assert fit.tested == 4
        claims += bool(fit.moved(0.05))
    assert claims / 200 <= 0.05, claims


def test_a_real_effect_is_found_and_the_seed_sd_is_estimated():
    beta = np.array([[0.2, 0.5, 0.8], [0.5, 0.5, 0.5]])
    fit = fit_study(SHARES, COMPONENTS, synth(1, beta, replicates=3, seed_sd=0.03), draws=1000, seed=1)
    assert fit.moved(0.05) == ["t0"]
    assert fit.tasks["t0"].model in ("linear", "quadratic")
    sd = fit.tasks["t1"].noise["replicate_sd"]
    assert 0.01 < sd < 0.06  # true seed SD 0.03, 14 degrees of freedom
    cv = fit.tasks["t0"].cv[fit.tasks["t0"].model]
    assert cv["rho"] > 0.8 and cv["rmse"] < 0.05


def test_the_proposal_is_the_true_optimum():
    # task t0 rewards component a, t1 rewards c, twice as much weight on t0: the best mixture is all a
    # within the design's range (a's largest share among the cells is 0.6)
    beta = np.array([[0.8, 0.3, 0.3], [0.3, 0.3, 0.6]])
    fit = fit_study(SHARES, COMPONENTS, synth(2, beta, items=800), draws=800, seed=2, model="linear")
    p = propose(fit, {"t0": 2.0, "t1": 1.0}, seed=0)
    # the true objective on the feasible region (each share within the cells' range) is maximised at a = 0.6, then c
    assert p.shares["a"] == pytest.approx(0.6, abs=0.03)
    assert p.shares["c"] == pytest.approx(0.4, abs=0.05)
    pred, lo, hi = p.predicted["t0"]
    truth = np.array([p.shares[c] for c in COMPONENTS]) @ beta[0]
    assert lo <= truth <= hi
    # a constraint that t1 keeps at least 0.45 moves the optimum towards c (t1 is at most 0.48 within the range)
    q = propose(fit, {"t0": 2.0, "t1": 1.0}, constraints=[{"task": "t1", "min": 0.45}], seed=0)
    assert q.predicted["t1"][0] >= 0.45 - 1e-9 and q.shares["c"] > p.shares["c"]


def test_too_few_distinct_cells_is_refused_with_what_is_needed():
    x = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.5, 0.3, 0.2]])  # two distinct compositions
    with pytest.raises(UnderdeterminedError, match=r"3 parameters but the design has 2 distinct cells; add at least 2 more"):
        check_determined(x, "linear")
    tasks = synth(0, np.array([[0.5, 0.5, 0.5]]), shares=x)
    fit = fit_study(x, COMPONENTS, tasks, draws=200, seed=0)
    tf = fit.tasks["t0"]
    assert tf.beta is None and "distinct cells" in tf.refused
    assert tf.p_any is not None  # the pairwise comparison with the base cell still stands
    with pytest.raises(UnderdeterminedError, match="no fitted model"):
        propose(fit, {"t0": 1.0})


def test_fit_variables_merge_components_that_move_together_and_absorb_fixed_ones():
    # a sweep of a; b and c keep their 2:1 proportion; d is always 10%
    a = np.array([0.0, 0.3, 0.6, 0.9])
    rest = 0.9 - a
    shares = np.column_stack([a, rest * 2 / 3, rest / 3, np.full(4, 0.1)])
    v = fit_variables(shares, ["a", "b", "c", "d"])
    assert v.names == ["a", "b+c"] and v.fixed == [3]
    assert np.allclose(v.x.sum(axis=1), 1) and np.allclose(v.x[:, 0], a / 0.9)


def test_bh_matches_hand_computation():
    q = bh([0.01, 0.04, 0.03, 0.5, np.nan])
    # sorted p: .01 .03 .04 .5 -> p*m/rank: .04 .06 .0533 .5 -> running minimum from the top: .04 .0533 .0533 .5
    assert np.allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.5]) and np.isnan(q[4])


def test_prediction_interval_and_spearman():
    beta = np.array([[0.2, 0.5, 0.8]])
    fit = fit_study(SHARES, COMPONENTS, synth(3, beta), draws=500, seed=3, model="linear")
    pred, lo, hi = predict(fit.tasks["t0"], np.array([[1.0, 0, 0], [0, 0, 1.0]]))
    assert (lo < pred).all() and (pred < hi).all() and pred[0] < pred[1]
    assert spearman(np.array([1, 2, 3]), np.array([10, 20, 30])) == pytest.approx(1.0)
    assert spearman(np.array([1, 1, 1]), np.array([1, 2, 3])) is None


def test_a_synthetic_study_through_the_records_gives_the_engine_fit(tmp_path):
    """The same known truth written as study and eval records: study fit reads it back to the engine's numbers."""
    from mixwise.study.fit import fit_study_dir
    from tests.synthetic_study import write_synthetic_study

    beta = np.array([[0.8, 0.3, 0.3], [0.3, 0.3, 0.6]])
    folder = write_synthetic_study(tmp_path, SHARES, beta, items=600, seed=4, weights={"t0": 2, "t1": 1})
    fit = fit_study_dir(folder, draws=800, seed=4)
    assert fit.cells[0] == "base" and len(fit.cells) == len(SHARES) and fit.variables == COMPONENTS
    t0 = fit.tasks["t0"]
    assert t0.model == "linear" and all(lo <= b <= hi for lo, b, hi in zip(t0.beta_lo, beta[0], t0.beta_hi))
    assert fit.moved == ["t0", "t1"] and fit.tested == 2
    assert fit.proposal.shares["a"] == pytest.approx(0.6, abs=0.03)  # the true optimum within the design's range
    assert (folder / "proposed.yaml").is_file() and (folder / "fit.json").is_file()
