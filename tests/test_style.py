"""The style classifier end to end: shipped model, determinism of retraining, the stage, the views, user retraining."""

from __future__ import annotations

import csv
import json

import numpy as np
import polars as pl
import pytest

from mixwise.curate.style_features import FEATURE_NAMES, feature_matrix
from mixwise.curate.style_model import REQUIRES, SHIPPED_MODEL, StyleModel, classify
from mixwise.curate.style_refs import STYLES

from tests.fixtures.style_examples import EXAMPLES


def _write_examples(path, examples=EXAMPLES):
    with path.open("w") as fh:
        for p, r, _ in examples:
            fh.write(json.dumps({"prompt": p, "response": r}) + "\n")
    return path


def test_shipped_model_is_small_and_loads_without_pickles():
    assert SHIPPED_MODEL.is_file() and SHIPPED_MODEL.stat().st_size < 200_000
    np.load(SHIPPED_MODEL, allow_pickle=False).close()
    m = StyleModel.load()
    assert m.classes == list(STYLES)
    assert m.coef.shape[0] == len(STYLES) and 0.1 < m.temperature < 10


@pytest.mark.slow
def test_shipped_model_classifies_handwritten_examples():
    prompts, responses, truth = zip(*EXAMPLES)
    proba, decisions = classify(list(prompts), list(responses))
    m = StyleModel.load()
    predicted = [m.classes[k] for k in proba.argmax(axis=1)]
    wrong = [(t, p, q[:40]) for t, p, q in zip(truth, predicted, prompts) if t != p]
    assert not wrong, wrong
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    n = len(FEATURE_NAMES)
    m = StyleModel(["a", "b"], rng.normal(size=n), np.ones(n), rng.normal(size=(2, n + 4)), np.zeros(2), temperature=1.7)
    m.save(tmp_path / "m.npz")
    back = StyleModel.load(tmp_path / "m.npz")
    feats, emb = rng.normal(size=(3, n)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(back.predict_proba(feats, emb), m.predict_proba(feats, emb), rtol=1e-5)
    assert back.decide(np.array([[0.45, 0.55], [0.9, 0.1]]), 0.6) == ["mixed", "a"]


def test_multiple_choice_is_ruled_out_where_the_prompt_offers_no_options():
    """The shipped model can never call a row multiple_choice without options; with options the class is open."""
    m = StyleModel.load()
    assert REQUIRES["multiple_choice"] in m.feature_names
    mc = m.classes.index("multiple_choice")
    passage = "Please read this text and reply OK.\n\n" + "The committee met on Tuesday and discussed the budget. " * 30
    options = "Which planet is largest?\n(A) Mars (B) Jupiter (with its moons) (C) Venus (D) Earth"
    feats = feature_matrix([passage, options, passage], ["OK.", "B", "Acknowledged."])
    emb = np.zeros((3, m.coef.shape[1] - len(FEATURE_NAMES)))
    proba = m.predict_proba(feats, emb)
    assert proba[0, mc] == 0.0 and proba[2, mc] == 0.0
    assert proba[1].argmax() == mc
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    # the same weights without the rule would give the passage rows a non-zero multiple_choice probability
    unruled = softmax_of(m, feats, emb)
    assert unruled[0, mc] > 0


def softmax_of(m, feats, emb):
    z = m.design(feats, emb) @ m.coef.T + m.intercept
    z = np.exp((z - z.max(axis=1, keepdims=True)) / m.temperature)
    return z / z.sum(axis=1, keepdims=True)


@pytest.mark.slow
def test_retraining_is_deterministic_with_a_seed(shared_data, tmp_path):
    from mixwise.curate.style_refs import build_references
    from mixwise.curate.style_train import train

    def run(seed):
        refs = build_references(shared_data, per_source=6, seed=seed)
        model, report = train([r.prompt for r in refs], [r.response for r in refs], [r.label for r in refs],
                              [r.source for r in refs], seed=seed, cache_dir=tmp_path / "cache", classes=STYLES)
        return model, report

    a, ra = run(0)
    b, rb = run(0)
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.temperature == b.temperature and ra["held_out"] == rb["held_out"]
    c, _ = run(1)  # another seed draws other references, so another model
    assert not np.array_equal(a.coef, c.coef)


def test_hand_labels_hold_ids_and_labels_only():
    from mixwise.curate.style_hand import HAND_LABELS, read_labels

    labels = read_labels()
    assert labels.columns == ["source", "source_id", "content_hash", "label"]
    assert labels.height >= 200 and set(labels["source"]) == {"sharegpt", "alpaca"}
    assert set(labels["label"]) <= set(STYLES)
    assert labels["content_hash"].str.len_chars().min() == 32
    assert len(HAND_LABELS.read_bytes()) < 40_000  # ids, not texts


@pytest.mark.slow
def test_style_stage_views_and_threshold(cli, ws, tmp_path):
    src = _write_examples(tmp_path / "examples.jsonl")
    assert cli("ingest", str(src), "--name", "hand").exit_code == 0
    r = cli("style", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["rows"] == len(EXAMPLES) and not out["skipped"]
    scored = ws.scored()
    score_cols = [f"style_score_{s}" for s in STYLES]
    assert set(score_cols) <= set(scored.columns) and scored["style"].null_count() == 0
    assert all(scored[c].dtype == pl.Float32 for c in score_cols)
    np.testing.assert_allclose(scored.select(score_cols).to_numpy().sum(axis=1), 1.0, atol=1e-4)
    # the same run again is reused; a strict threshold leaves uncertain rows as mixed
    assert json.loads(cli("style", "--json").stdout)["skipped"]
    strict = json.loads(cli("style", "--threshold", "0.999", "--json").stdout)
    top = scored.select(score_cols).to_numpy().max(axis=1)
    assert strict["counts"].get("mixed", 0) == int((top < 0.999).sum())

    views = json.loads(cli("styles", "--json").stdout)
    assert views["matrix"] is None
    assert sum(views["by_source"]["hand"].values()) == len(EXAMPLES)
    # with the cluster stage's columns present, the topic x style matrix appears
    ids = ws.samples(columns=["id"])["id"].to_list()
    clusters = pl.DataFrame({"id": ids, "cluster": pl.Series([i % 2 for i in range(len(ids))], dtype=pl.Int32),
                             "cluster_label": ["even" if i % 2 == 0 else "odd" for i in range(len(ids))]})
    ws.write_columns("cluster", clusters, {"k": 2})
    views = json.loads(cli("styles", "--json").stdout)
    assert [row["cluster_label"] for row in views["matrix"]["rows"]] == ["even", "odd"]
    assert sum(row["total"] for row in views["matrix"]["rows"]) == len(EXAMPLES)
    text = cli("styles").stdout
    assert "topic x style" in text and "styles by source" in text


def test_styles_before_style_is_a_clean_error(cli, ws, tmp_path):
    src = _write_examples(tmp_path / "examples.jsonl", EXAMPLES[:2])
    cli("ingest", str(src))
    from mixwise.curate.style import style_views
    from mixwise.errors import MixwiseError

    with pytest.raises(MixwiseError, match="mixwise style"):
        style_views(ws)


@pytest.mark.slow
def test_retrain_on_user_labels(cli, ws, tmp_path):
    src = _write_examples(tmp_path / "examples.jsonl", EXAMPLES * 2)
    cli("ingest", str(src), "--name", "mine")
    samples = ws.samples(columns=["id", "prompt"])
    by_prompt = {p: s for p, _, s in EXAMPLES}
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        for i, p in samples.iter_rows():
            w.writerow([i, "terse" if by_prompt[p] in ("concise", "multiple_choice") else "other"])
    r = cli("style", "--train", str(labels), "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["n_train"] == samples.height and set(result["train_counts"]) == {"terse", "other"}
    r = cli("style", "--json")
    out = json.loads(r.stdout)
    assert out["model"].endswith("models/style/style_model.npz")
    assert set(out["counts"]) <= {"terse", "other", "mixed"}
    from mixwise.errors import MixwiseError

    with pytest.raises(MixwiseError, match="no such labels file"):
        cli("style", "--train", str(tmp_path / "nope.csv"))


def test_reference_rules():
    from mixwise.curate.style_features import feature_dict
    from mixwise.curate.style_refs import Ref, is_prototype, label_with_code_rule, render_mc

    formats = set()
    for i in range(40):
        p, r = render_mc(f"Question {i}?", ["red", "green", "blue", "gold"], 2, key=str(i))
        assert "C" in r and ("green" not in r)
        assert feature_dict(p, r)["resp_letter_answer"] == 1.0, (p, r)
        formats.add((p.count("\n") > 2, len(r)))
    assert len(formats) >= 4  # several renderings, not one template
    assert label_with_code_rule("def f(x):\n    return x + 1\n\nprint(f(2))", "concise") == "code"
    assert label_with_code_rule("Paris is the capital of France.", "concise") == "concise"
    assert not is_prototype(Ref("lima", "1", "q", "Yes, it is.", "long_form"))
    assert not is_prototype(Ref("dolly", "1", "q", "word " * 200, "concise"))
    assert is_prototype(Ref("mmlu", "1", "q", "B", "multiple_choice"))


def test_references_have_two_sources_per_style(shared_data):
    from collections import defaultdict

    from mixwise.curate.style_refs import build_references

    refs = build_references(shared_data, per_source=50, seed=0)
    sources = defaultdict(set)
    for r in refs:
        sources[r.label].add(r.source)
    # leave-one-source-out needs every style in at least two sources
    assert {k: len(v) >= 2 for k, v in sources.items()} == {k: True for k in STYLES}


def test_a_model_trained_on_older_features_says_how_to_retrain(tmp_path):
    from mixwise.errors import MixwiseError

    m = StyleModel.load()
    m.feature_names = [n for n in m.feature_names if n != "prompt_offers_options"]
    m.mean, m.scale = m.mean[:-1], m.scale[:-1]
    m.save(tmp_path / "old.npz")
    with pytest.raises(MixwiseError) as e:
        StyleModel.load(tmp_path / "old.npz")
    assert "lacks prompt_offers_options" in e.value.line() and "mixwise style --train" in e.value.line()
