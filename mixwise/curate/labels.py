"""Readable cluster names: class-based TF-IDF keywords, optionally an LLM's short name.

c-TF-IDF treats each cluster as one document: a term scores high when it is
frequent inside the cluster and rare across clusters,
``tf(t, c) * log(1 + A / f(t))`` with ``A`` the average number of words per
cluster and ``f(t)`` the term's frequency over all clusters. English stop words
are removed; unigrams and bigrams are counted; numbers are ignored.

LLM naming (off by default) sends each cluster's keywords and representative
prompts to any OpenAI-compatible endpoint and caches the answer by request hash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mixwise.errors import MixwiseError
from mixwise.workspace import config_hash, write_json

#: Letters-only tokens of two or more characters (no numbers, no underscores).
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"
#: Characters of each text that are counted (long pastes would otherwise dominate).
MAX_CHARS = 2000


def ctfidf_keywords(texts: Sequence[str], assign: np.ndarray, k: int, top: int = 8) -> list[list[str]]:
    """The ``top`` c-TF-IDF terms of each of ``k`` clusters (cluster ids ``0..k-1`` in ``assign``)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    docs = [t[:MAX_CHARS] for t in texts]
    vec = CountVectorizer(stop_words="english", ngram_range=(1, 2), token_pattern=TOKEN_PATTERN,
                          min_df=2 if len(docs) >= 50 else 1, max_features=100_000, lowercase=True)
    try:
        counts = vec.fit_transform(docs)
    except ValueError:  # every text was stop words or numbers
        return [[] for _ in range(k)]
    member = sparse.csr_matrix((np.ones(len(assign)), (assign, np.arange(len(assign)))), shape=(k, len(assign)))
    per_cluster = np.asarray((member @ counts).todense(), dtype=np.float64)
    words_per_cluster = per_cluster.sum(axis=1, keepdims=True)
    tf = per_cluster / np.maximum(words_per_cluster, 1)
    avg_words = max(words_per_cluster.mean(), 1.0)
    idf = np.log1p(avg_words / np.maximum(per_cluster.sum(axis=0), 1))
    scores = tf * idf
    vocab = vec.get_feature_names_out()
    out = []
    for c in range(k):
        best = np.argsort(-scores[c], kind="stable")[: top * 3]
        out.append(_non_redundant([vocab[i] for i in best if scores[c, i] > 0], top))
    return out


def _non_redundant(terms: list[str], top: int) -> list[str]:
    """Drop a term whose words are all inside an already chosen term (``python`` after ``python code``)."""
    chosen: list[str] = []
    for t in terms:
        words = set(t.split())
        if any(words <= set(c.split()) or set(c.split()) <= words for c in chosen):
            continue
        chosen.append(t)
        if len(chosen) == top:
            break
    return chosen


def label_from_keywords(keywords: Sequence[str], n: int = 3) -> str:
    """A short label: the first ``n`` keywords joined by commas (``"(no keywords)"`` if none)."""
    return ", ".join(keywords[:n]) if keywords else "(no keywords)"


NAMING_PROMPT = """Here are keywords and example prompts from one topic cluster of an instruction-tuning dataset.
Keywords: {keywords}
Examples:
{examples}

Reply with only a short topic name (2 to 5 words), no quotes."""


def llm_names(clusters: list[dict], *, model: str, base_url: str | None, cache_dir: Path, api_key: str | None = None) -> list[str]:
    """Ask an OpenAI-compatible endpoint for a short name per cluster (cached by request hash)."""
    from openai import OpenAI, OpenAIError

    client = OpenAI(base_url=base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed", max_retries=1, timeout=60)
    names = []
    for c in clusters:
        examples = "\n".join(f"- {p[:300]!r}" for p in c["representative_prompts"][:5])
        prompt = NAMING_PROMPT.format(keywords=", ".join(c["keywords"]), examples=examples)
        key = config_hash({"model": model, "base_url": base_url, "prompt": prompt})
        cached = cache_dir / f"{key}.json"
        if cached.is_file():
            names.append(json.loads(cached.read_text())["name"])
            continue
        try:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=20)
        except OpenAIError as e:
            raise MixwiseError(f"LLM naming failed at {base_url or 'api.openai.com'}: {e}",
                               "check --llm-url / --llm-model and that the server is up, or drop --llm-name") from e
        content = (reply.choices[0].message.content or "") if reply.choices else ""
        name = (content.strip().splitlines() or [""])[0].strip().strip('"')[:60]
        name = name or c["label"]
        write_json(cached, {"name": name, "model": model, "prompt": prompt})
        names.append(name)
    return names
