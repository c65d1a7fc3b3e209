"""Train and evaluate the style classifier; rebuild the model shipped in the package.

Run it (from the repository root, with ``../shared/data`` present)::

    python -m mixwise.curate.style_train                 # writes style_data/style_model.npz + style_metrics.json
    python -m mixwise.curate.style_train --out /tmp/m    # somewhere else

What it does, in order:

1. builds labelled references from public data (:mod:`mixwise.curate.style_refs`;
   rows whose length contradicts their source's label are left out), minus any
   row that is also hand-labelled;
2. leave-one-source-out: for each reference source, trains on the others and
   predicts it, so every reference is scored by a model that never saw its
   source (macro-F1, confusion matrix, per-source accuracy, calibration);
3. fits the softmax temperature on those held-out predictions;
4. trains the final model on all references and evaluates it against the hand
   labels (:mod:`mixwise.curate.style_hand`);
5. writes the model (``.npz``, no pickles) and the metrics JSON.

Deterministic for a given seed: the reference sample is seeded and lbfgs is
deterministic.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mixwise.curate.style_features import FEATURE_NAMES, feature_matrix
from mixwise.curate.style_model import (
    DATA_DIR, MIXED, SHIPPED_MODEL, StyleModel, embed_pairs, expand, expected_calibration_error, fit, fit_temperature,
)
from mixwise.curate.style_refs import REFERENCE_SOURCES, STYLES, build_references
from mixwise.workspace import now_iso, write_json

DEFAULT_C = 1.0
DEFAULT_EMBED_WEIGHT = 1.0
METRICS_FILE = DATA_DIR / "style_metrics.json"


def default_cache() -> Path:
    """Where training embeddings are cached between runs."""
    return Path.home() / ".cache" / "mixwise" / "style"


def metrics(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], threshold: float | None = None) -> dict:
    """Accuracy, macro-F1 (over classes present in truth or prediction), confusion matrix, ECE, coverage at threshold."""
    from sklearn.metrics import confusion_matrix, f1_score

    classes = list(classes)
    y = np.array([classes.index(t) for t in y_true])
    pred = proba.argmax(axis=1)
    present = sorted(set(y.tolist()) | set(pred.tolist()))
    out = {
        "n": int(len(y)),
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "f1_per_class": {classes[k]: float(v) for k, v in zip(present, f1_score(y, pred, labels=present, average=None, zero_division=0))},
        "support": {classes[k]: int((y == k).sum()) for k in range(len(classes))},
        "confusion": {"labels": classes, "rows_true_cols_pred": confusion_matrix(y, pred, labels=list(range(len(classes)))).tolist()},
        "ece": expected_calibration_error(proba, y),
    }
    if threshold is not None:
        confident = proba.max(axis=1) >= threshold
        out["threshold"] = threshold
        out["coverage"] = float(confident.mean())
        out["accuracy_when_confident"] = float((pred[confident] == y[confident]).mean()) if confident.any() else None
    return out


def held_out_by_group(feats: np.ndarray, emb: np.ndarray, labels: Sequence[str], groups: Sequence[str], classes: Sequence[str],
                      *, c: float, embed_weight: float, seed: int, use_embedding: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For each group, fit on the other groups and predict it: (probabilities, logits), both over ``classes``."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    emb_used = emb if use_embedding else np.zeros((len(labels), 0), dtype=np.float32)
    proba = np.zeros((len(labels), len(classes)))
    logits = np.full((len(labels), len(classes)), -30.0)
    for g in sorted(set(groups.tolist())):
        test = groups == g
        m = fit(feats[~test], emb_used[~test], labels[~test].tolist(), classes=classes, c=c, embed_weight=embed_weight, seed=seed)
        z = m.logits(feats[test], emb_used[test])
        proba[test] = expand(m.predict_proba(feats[test], emb_used[test]), m.classes, classes)
        for j, k in enumerate(m.classes):
            logits[test, list(classes).index(k)] = z[:, j]
    return proba, logits


def train(prompts: Sequence[str], responses: Sequence[str], labels: Sequence[str], groups: Sequence[str] | None = None, *,
          seed: int = 0, c: float = DEFAULT_C, embed_weight: float = DEFAULT_EMBED_WEIGHT, cache_dir: Path | None = None,
          classes: Sequence[str] | None = None, emb: np.ndarray | None = None) -> tuple[StyleModel, dict]:
    """Train a model on labelled pairs; held-out evaluation by ``groups`` (or 5 seeded folds) calibrates it."""
    classes = list(classes or [k for k in STYLES if k in set(labels)] + sorted(set(labels) - set(STYLES)))
    feats = feature_matrix(prompts, responses)
    if emb is None:
        emb = embed_pairs(prompts, responses, cache_dir=cache_dir)
    if groups is None or len(set(groups)) < 2:
        groups = [str(i % 5) for i in np.random.default_rng(seed).permutation(len(labels))]
    proba, logits = held_out_by_group(feats, emb, labels, groups, classes, c=c, embed_weight=embed_weight, seed=seed)
    y = np.array([classes.index(t) for t in labels])
    temperature = fit_temperature(logits, y)
    calibrated = expand(np.exp(logits / temperature) / np.exp(logits / temperature).sum(1, keepdims=True), classes, classes)
    model = fit(feats, emb, list(labels), classes=classes, c=c, embed_weight=embed_weight, seed=seed)
    model.temperature = temperature
    per_group = {g: float((proba[np.asarray(groups) == g].argmax(1) == y[np.asarray(groups) == g]).mean()) for g in sorted(set(groups))}
    report = {
        "held_out": metrics(labels, calibrated, classes, threshold=model.threshold),
        "held_out_uncalibrated_ece": expected_calibration_error(proba, y),
        "held_out_accuracy_by_group": per_group,
        "temperature": temperature,
        "n_train": len(labels),
        "train_counts": {k: int((np.asarray(labels) == k).sum()) for k in classes},
    }
    model.meta = {"trained_at": now_iso(), "seed": seed, "c": c, "n_train": len(labels), "classes": classes,
                  "embedding_model": "all-MiniLM-L6-v2", "embedding_dim": int(emb.shape[1])}
    return model, report


def evaluate_hand_labels(model: StyleModel, data: Path, pool_root: Path, cache_dir: Path | None) -> dict:
    """Agreement of ``model`` with the hand labels (argmax, and with ``mixed`` counted as disagreement)."""
    from mixwise.curate.style_hand import labelled_rows, pool_workspace, read_labels

    rows = labelled_rows(pool_workspace(data, pool_root), read_labels())
    prompts, responses, truth = rows["prompt"].to_list(), rows["response"].to_list(), rows["label"].to_list()
    proba = model.predict_proba(feature_matrix(prompts, responses), embed_pairs(prompts, responses, cache_dir=cache_dir))
    decided = model.decide(proba)
    out = metrics(truth, proba, model.classes, threshold=model.threshold)
    out["agreement"] = out["accuracy"]
    out["agreement_mixed_as_wrong"] = float(np.mean([d == t for d, t in zip(decided, truth)]))
    out["mixed"] = int(sum(d == MIXED for d in decided))
    out["by_source"] = {s: float(np.mean([p == t for p, t, src in zip(np.array(model.classes)[proba.argmax(1)], truth, rows["source"])
                                          if src == s])) for s in sorted(set(rows["source"]))}
    return out


def run(data: Path, out_model: Path, out_metrics: Path, *, per_source: int = 600, seed: int = 0, c: float = DEFAULT_C,
        embed_weight: float = DEFAULT_EMBED_WEIGHT, cache_dir: Path | None = None, ablation: bool = True) -> dict:
    """The whole retraining pipeline; returns the metrics written to ``out_metrics``."""
    from mixwise.curate.style_hand import labelled_rows, pool_workspace, read_labels

    started = time.perf_counter()
    cache_dir = cache_dir or default_cache()
    pool_root = cache_dir / "hand_pool"
    hand = labelled_rows(pool_workspace(data, pool_root), read_labels())
    held = set(zip(hand["prompt"].to_list(), hand["response"].to_list()))
    refs = [r for r in build_references(data, per_source=per_source, seed=seed) if (r.prompt, r.response) not in held]
    prompts, responses = [r.prompt for r in refs], [r.response for r in refs]
    labels, groups = [r.label for r in refs], [r.source for r in refs]
    emb = embed_pairs(prompts, responses, cache_dir=cache_dir)
    model, report = train(prompts, responses, labels, groups, seed=seed, c=c, embed_weight=embed_weight, classes=STYLES, emb=emb)
    result = {
        "created_at": now_iso(),
        "settings": {"per_source": per_source, "seed": seed, "c": c, "embed_weight": embed_weight, "sources": list(REFERENCE_SOURCES),
                     "features": list(FEATURE_NAMES), "threshold": model.threshold},
        "references": {"n": len(refs), "by_source_label": _counts(groups, labels)},
        "leave_one_source_out": report,
        "hand_labels": evaluate_hand_labels(model, data, pool_root, cache_dir),
    }
    if ablation:  # the same held-out-source test without the embedding: how much do the features alone carry?
        feats = feature_matrix(prompts, responses)
        p, _ = held_out_by_group(feats, emb, labels, groups, STYLES, c=c, embed_weight=embed_weight, seed=seed, use_embedding=False)
        result["ablation_features_only_leave_one_source_out"] = {k: v for k, v in metrics(labels, p, STYLES).items()
                                                                  if k in ("accuracy", "macro_f1", "f1_per_class")}
    result["seconds"] = round(time.perf_counter() - started, 1)
    model.meta["metrics"] = {"loso_macro_f1": report["held_out"]["macro_f1"], "hand_agreement": result["hand_labels"]["agreement"]}
    model.save(out_model)
    write_json(out_metrics, result)
    return result


def _counts(groups: Sequence[str], labels: Sequence[str]) -> dict:
    out: dict[str, dict[str, int]] = {}
    for g, l in zip(groups, labels):
        out.setdefault(g, {}).setdefault(l, 0)
        out[g][l] += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: retrain the shipped style model and print its metrics."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder with instruct/, mc/, judge/")
    ap.add_argument("--out", type=Path, default=None, help="folder for style_model.npz and style_metrics.json (default: the package's)")
    ap.add_argument("--per-source", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--c", type=float, default=DEFAULT_C, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default ~/.cache/mixwise/style)")
    ap.add_argument("--no-ablation", action="store_true")
    args = ap.parse_args(argv)
    out_model = args.out / SHIPPED_MODEL.name if args.out else SHIPPED_MODEL
    out_metrics = args.out / METRICS_FILE.name if args.out else METRICS_FILE
    r = run(args.data, out_model, out_metrics, per_source=args.per_source, seed=args.seed, c=args.c, cache_dir=args.cache,
            ablation=not args.no_ablation)
    lo, hl = r["leave_one_source_out"], r["hand_labels"]
    print(f"references: {r['references']['n']}  temperature: {lo['temperature']:.2f}")
    print(f"leave-one-source-out: macro-F1 {lo['held_out']['macro_f1']:.3f}  accuracy {lo['held_out']['accuracy']:.3f}  "
          f"ECE {lo['held_out']['ece']:.3f} (uncalibrated {lo['held_out_uncalibrated_ece']:.3f})")
    for g, acc in lo["held_out_accuracy_by_group"].items():
        print(f"  held out {g:18s} accuracy {acc:.3f}")
    print(f"hand labels ({hl['n']}): agreement {hl['agreement']:.3f}  macro-F1 {hl['macro_f1']:.3f}  ECE {hl['ece']:.3f}  "
          f"mixed {hl['mixed']}  by source {hl['by_source']}")
    if "ablation_features_only_leave_one_source_out" in r:
        ab = r["ablation_features_only_leave_one_source_out"]
        print(f"ablation, features only (leave-one-source-out): macro-F1 {ab['macro_f1']:.3f}")
    print(f"wrote {out_model} and {out_metrics} in {r['seconds']}s")


if __name__ == "__main__":
    main()
