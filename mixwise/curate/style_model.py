"""The style classifier: scaled interpretable features + a MiniLM embedding -> multinomial logistic regression.

The model is a handful of arrays (feature means and scales, coefficients,
intercepts, a softmax temperature), stored as one small ``.npz`` with a JSON
header, never a pickle. Probabilities are temperature-scaled (the temperature is
fitted on held-out-source predictions) so that a 0.8 means right about 80% of
the time; a row whose top probability is below the threshold is ``mixed``.

The shipped model lives at ``mixwise/curate/style_data/style_model.npz``;
``python -m mixwise.curate.style_train`` rebuilds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mixwise.curate.style_features import FEATURE_NAMES, feature_matrix
from mixwise.errors import MixwiseError

DATA_DIR = Path(__file__).parent / "style_data"
SHIPPED_MODEL = DATA_DIR / "style_model.npz"
MIXED = "mixed"
DEFAULT_THRESHOLD = 0.5
#: How much of the prompt and response the embedding sees (MiniLM reads ~256 tokens anyway).
PROMPT_CHARS, RESPONSE_CHARS = 400, 800


def style_text(prompt: str, response: str) -> str:
    """The text embedded for a sample: the start of the prompt, then the start of the response."""
    return f"{(prompt or '')[:PROMPT_CHARS]}\n\n{(response or '')[:RESPONSE_CHARS]}"


def embed_pairs(
    prompts: Sequence[str], responses: Sequence[str], cache_dir: Path | None = None, model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """MiniLM embeddings of :func:`style_text`, cached by text hash in ``cache_dir/<model>.npz`` when given."""
    from mixwise.curate.embed import default_model, embed_texts, model_identity, text_hash

    model = model or default_model()
    texts = [style_text(p, r) for p, r in zip(prompts, responses)]
    hashes = [text_hash(t) for t in texts]
    cache: dict[str, np.ndarray] = {}
    cache_file = Path(cache_dir) / f"{model_identity(model)}.npz" if cache_dir else None
    if cache_file and cache_file.is_file():
        with np.load(cache_file) as z:
            cache = dict(zip(z["hashes"].tolist(), z["vectors"]))
    todo = sorted({h: i for i, h in enumerate(hashes) if h not in cache}.values())
    if todo:
        vecs = embed_texts([texts[i] for i in todo], model, progress=progress)
        cache.update({hashes[i]: v for i, v in zip(todo, vecs)})
        if cache_file:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            keys = sorted(cache)
            np.savez(cache_file, hashes=np.array(keys), vectors=np.stack([cache[k] for k in keys]).astype(np.float32))
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([cache[h] for h in hashes]).astype(np.float32)


#: Hard rules of the taxonomy: class -> binary feature it needs. An answer cannot pick an option the prompt
#: does not offer; without this rule, long pasted texts answered "OK." / "Acknowledged." looked like
#: reading-passage MC items (BIG-bench fables) to the linear model.
REQUIRES: dict[str, str] = {"multiple_choice": "prompt_offers_options"}


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class StyleModel:
    """A trained style classifier (all plain arrays)."""

    classes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float = 1.0
    embed_weight: float = 1.0
    threshold: float = DEFAULT_THRESHOLD
    feature_names: list[str] = field(default_factory=lambda: list(FEATURE_NAMES))
    meta: dict = field(default_factory=dict)

    def design(self, feats: np.ndarray, emb: np.ndarray) -> np.ndarray:
        """The classifier's input: standardized features next to the weighted embedding."""
        return np.hstack([(feats - self.mean) / self.scale, emb * self.embed_weight]).astype(np.float64)

    def logits(self, feats: np.ndarray, emb: np.ndarray) -> np.ndarray:
        """Class scores; a class in ``REQUIRES`` is ruled out (-inf) on rows where its required feature is 0."""
        z = self.design(feats, emb) @ self.coef.T + self.intercept
        for cls, feature in REQUIRES.items():
            if cls in self.classes and feature in self.feature_names and len(self.classes) > 1:
                z[feats[:, self.feature_names.index(feature)] == 0, self.classes.index(cls)] = -np.inf
        return z

    def predict_proba(self, feats: np.ndarray, emb: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, columns in ``classes`` order."""
        return softmax(self.logits(feats, emb) / self.temperature)

    def decide(self, proba: np.ndarray, threshold: float | None = None) -> list[str]:
        """The top style, or ``mixed`` where its probability is below the threshold."""
        t = self.threshold if threshold is None else threshold
        top = proba.argmax(axis=1)
        return [self.classes[k] if proba[i, k] >= t else MIXED for i, k in enumerate(top)]

    def explain(self, feats: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the ``k`` features pushing hardest toward the predicted class (feature part only)."""
        z = (feats - self.mean) / self.scale
        n = len(self.feature_names)
        out = []
        for row in z:
            contrib = self.coef[:, :n] * row
            cls = int((contrib.sum(axis=1) + self.intercept).argmax())
            order = np.argsort(-contrib[cls])[:k]
            out.append([(self.feature_names[j], float(contrib[cls, j])) for j in order])
        return out

    def save(self, path: Path) -> Path:
        """Write the model as a small ``.npz`` (arrays + a JSON header); no pickles."""
        header = {"classes": self.classes, "temperature": self.temperature, "embed_weight": self.embed_weight,
                  "threshold": self.threshold, "feature_names": self.feature_names, "meta": self.meta}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, header=np.array(json.dumps(header, sort_keys=True)), mean=self.mean.astype(np.float32),
                                scale=self.scale.astype(np.float32), coef=self.coef.astype(np.float32),
                                intercept=self.intercept.astype(np.float32))
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> "StyleModel":
        """Load a saved model (default: the one shipped in the package)."""
        path = Path(path) if path else SHIPPED_MODEL
        if not path.is_file():
            raise MixwiseError(f"no style model at {path}", "retrain it: python -m mixwise.curate.style_train")
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            arrays = {k: z[k].astype(np.float64) for k in ("mean", "scale", "coef", "intercept")}
        if header["feature_names"] != list(FEATURE_NAMES):
            new = sorted(set(FEATURE_NAMES) - set(header["feature_names"]))
            fix = ("retrain it: python -m mixwise.curate.style_train" if path == SHIPPED_MODEL else
                   "retrain it on your labels with this version: mixwise style --train LABELS.csv (or pass --model to use another)")
            raise MixwiseError(f"style model {path} was trained on other features" + (f" (it lacks {', '.join(new)})" if new else ""), fix)
        return cls(classes=header["classes"], temperature=header["temperature"], embed_weight=header["embed_weight"],
                   threshold=header["threshold"], feature_names=header["feature_names"], meta=header["meta"], **arrays)


def fit(feats: np.ndarray, emb: np.ndarray, labels: Sequence[str], *, classes: Sequence[str], c: float = 1.0,
        embed_weight: float = 1.0, seed: int = 0) -> StyleModel:
    """Fit the logistic regression (balanced classes, lbfgs: deterministic for a given input and seed)."""
    from sklearn.linear_model import LogisticRegression

    present = [k for k in classes if k in set(labels)]
    mean = feats.mean(axis=0)
    scale = feats.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = StyleModel(list(present), mean, scale, np.zeros((0,)), np.zeros((0,)), embed_weight=embed_weight)
    lr = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)
    lr.fit(model.design(feats, emb), np.array([present.index(y) for y in labels]))
    coef, intercept = lr.coef_.astype(np.float64), lr.intercept_.astype(np.float64)
    if len(present) == 2:  # sklearn's binary model has one row; softmax over (-z/2, z/2) is the same sigmoid
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    model.coef, model.intercept = coef, intercept
    return model


def expand(proba: np.ndarray, have: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Probabilities over ``have`` placed into columns for all ``classes`` (absent ones get 0)."""
    out = np.zeros((proba.shape[0], len(classes)))
    for j, k in enumerate(have):
        out[:, list(classes).index(k)] = proba[:, j]
    return out


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature minimizing negative log-likelihood (grid over 0.25..8, log-spaced)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 97))
    nll = [-np.log(softmax(logits / t)[np.arange(len(y)), y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class probability: mean |accuracy - confidence| over equal-width bins, weighted by size."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def classify(prompts: Sequence[str], responses: Sequence[str], model: StyleModel | None = None, *,
             cache_dir: Path | None = None, progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[str]]:
    """Style probabilities (columns = ``model.classes``) and decisions (with ``mixed``) for pairs."""
    model = model or StyleModel.load()
    feats = feature_matrix(prompts, responses)
    emb = embed_pairs(prompts, responses, cache_dir=cache_dir, progress=progress)
    proba = model.predict_proba(feats, emb)
    return proba, model.decide(proba)
