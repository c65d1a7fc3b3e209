"""Readable cluster names: keyphrases chosen in the embedding space, optionally an LLM's short name.

Keyphrase labels (the default, :func:`keyphrase_labels`):

1. **Candidates** are 1-3-word phrases taken from the cluster's own prompts,
   inside one clause (no phrase spans ``.``/``?``/``,``/newline), after
   prompt templates are removed (``### Instruction:``, ``Human:`` ...). A
   phrase may not start or end with a stop word or with instruction
   boilerplate (``write``, ``give``, ``explain``, ``following`` ...), so
   "give me" or "let write" never become a label; ``of``/``and``/``for``
   may sit inside ("pros and cons", "cost of living").
2. **Pre-filter**: phrases found in at least two of the cluster's prompts,
   ranked by coverage (share of the cluster's prompts containing them) times
   ``log(1 + lift)`` (how much more common they are here than in the whole
   table); the best ``max_candidates`` (default 40) go on. This bounds the cost:
   at most ``k * 40`` short phrases are embedded, in one batch, through the
   workspace's embedding cache (same model and precision as the prompts).
3. **Relevance** of a phrase is its cosine to the cluster centroid (the same
   space the clusters were made in), minus half its highest cosine to any
   other centroid (a phrase that fits the whole table loses to one that fits
   this cluster), plus ``0.3 * sqrt(coverage)`` (a phrase in 40% of the
   prompts beats a rare one of the same meaning: "minutes" over "wait").
4. **Diversity**: maximal marginal relevance picks the keyphrases one at a
   time, each trading relevance against similarity to those already chosen
   (``lambda`` 0.7), and never a phrase contained in a chosen one.

The label is the first three keyphrases; each cluster also keeps its most
central prompts. Everything is deterministic (ties break on the phrase text).

c-TF-IDF keywords (:func:`ctfidf_keywords`, the labels before keyphrases) are
kept for comparison (``benchmarks/cluster_labels.py``).

LLM naming (off by default) sends each cluster's keyphrases and representative
prompts to any OpenAI-compatible endpoint and caches the answer by request hash.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mixwise.errors import MixwiseError
from mixwise.workspace import config_hash, write_json

#: Recorded in the cluster stage's config: a new labelling method re-labels on the next run.
LABEL_METHOD = "keyphrase-mmr-1"
#: Letters-only tokens of two or more characters (no numbers, no underscores).
TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"
#: Characters of each text that are counted (long pastes would otherwise dominate).
MAX_CHARS = 2000
MAX_CANDIDATES = 40
MMR_LAMBDA = 0.7
#: How much a phrase's fit to other clusters counts against it (0: plain centroid similarity).
CONTRAST = 0.5
#: How much a phrase's coverage (share of the cluster's prompts holding it) counts for it.
COVERAGE = 0.3
N_KEYPHRASES = 5
N_CENTRAL = 3

#: Words that say what to do or how much, not what about: instruction verbs, chat filler, and the verbs,
#: quantifiers and adverbs of word problems ("how many marbles did she give ..."). A phrase may not start or
#: end with one (it may hold one inside only if it is also a connector).
BOILERPLATE = frozenset("""
write rewrite give tell explain describe list provide create generate make produce compose suggest summarize
construct brainstorm calculate compute identify classify categorize determine find define edit choose pick select
please kindly help want need like know think let lets try use using used based following given below above
input output response instruction instructions task answer answers sentence text paragraph word words
example examples way ways good best better great new different various possible specific certain sure thing things
lot lots kind type types typically usually often really actually instead already still later
hi hello hey thanks thank ok okay yes im ive dont doesnt isnt cant wont didnt youre thats whats
question questions human assistant user mean means called
did does doing done gave gives got gets went goes going takes took makes made has had having wants wanted needs
needed uses buys bought sells spends pays paid earns earned receives received eats ate runs ran holds lays
brings brought puts keeps kept sees saw finds found starts started decides decided plans planned
buy sell sold spend spent pay earn save saves divided replace convert reduce treat lay
twice half double triple total remaining combined altogether number amount times rest left away
fewer larger largest smaller smallest longer longest long first second third fourth fifth
""".split())
#: Words allowed inside (never at the ends of) a phrase.
CONNECTORS = frozenset({"of", "and", "for", "in", "to", "on", "with", "the", "a", "vs", "or"})
#: Prompt templates and chat markers, removed before phrases are counted.
TEMPLATE_RE = re.compile(
    r"(?im)^\s*(###\s*(instruction|input|response|context)\s*:?|(human|assistant|user|system)\s*:)|"
    r"below is an instruction that describes a task[^\n]*|write a response that appropriately completes the request\.?")
#: Clause boundaries: a phrase never spans one.
CLAUSE_RE = re.compile(r"[.!?,;:()\[\]{}\"\n|/\\]+")
_TOKEN_RE = re.compile(TOKEN_PATTERN)


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | BOILERPLATE


def clean_prompt(text: str) -> str:
    """The prompt without template markers, cut to :data:`MAX_CHARS`."""
    return TEMPLATE_RE.sub(" ", text[:MAX_CHARS])


def phrases(text: str, stop: frozenset[str], max_words: int = 3) -> set[str]:
    """The candidate 1-3-word phrases of one text (lower case; see the module docstring for the rules)."""
    out: set[str] = set()
    for clause in CLAUSE_RE.split(clean_prompt(text).lower()):
        words = _TOKEN_RE.findall(clause.replace("'", "").replace("\u2019", ""))
        for i, first in enumerate(words):
            if first in stop:
                continue
            for n in range(1, max_words + 1):
                if i + n > len(words):
                    break
                last = words[i + n - 1]
                if n == 3 and words[i + 1] in stop and words[i + 1] not in CONNECTORS:
                    break
                if last not in stop:
                    out.add(" ".join(words[i : i + n]))
    return out


def candidate_phrases(texts: Sequence[str], assign: np.ndarray, k: int, *,
                      max_candidates: int = MAX_CANDIDATES) -> list[list[tuple[str, float]]]:
    """Each cluster's best ``max_candidates`` ``(phrase, coverage)`` by coverage x log(1 + lift) (in >= 2 of its prompts)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    stop = _stop_words()
    vec = CountVectorizer(analyzer=lambda t: sorted(phrases(t, stop)), binary=True, min_df=2 if len(texts) >= 50 else 1)
    try:
        present = vec.fit_transform(texts)
    except ValueError:  # no phrase anywhere
        return [[] for _ in range(k)]
    member = sparse.csr_matrix((np.ones(len(assign)), (assign, np.arange(len(assign)))), shape=(k, len(assign)))
    df_cluster = np.asarray((member @ present).todense(), dtype=np.float64)  # prompts of cluster c containing phrase t
    sizes = np.maximum(np.bincount(assign, minlength=k), 1)[:, None]
    coverage = df_cluster / sizes
    overall = np.asarray(present.sum(axis=0), dtype=np.float64) / max(len(texts), 1)
    score = coverage * np.log1p(coverage / np.maximum(overall, 1e-12))
    score[df_cluster < min(2, sizes.min())] = 0
    vocab = vec.get_feature_names_out()
    out = []
    for c in range(k):
        best = np.lexsort((np.arange(len(vocab)), -score[c]))[:max_candidates]  # vocab is sorted: ties go alphabetically
        out.append([(str(vocab[i]), float(coverage[c, i])) for i in best if score[c, i] > 0])
    return out


def mmr(relevance: np.ndarray, vectors: np.ndarray, names: Sequence[str], n: int, lam: float = MMR_LAMBDA) -> list[int]:
    """Indices chosen by maximal marginal relevance; a name contained in (or containing) a chosen one is skipped."""
    chosen: list[int] = []
    left = sorted(range(len(names)), key=lambda i: (-float(relevance[i]), names[i]))
    while left and len(chosen) < n:
        if chosen:
            redundancy = (vectors[left] @ vectors[chosen].T).max(axis=1)
            scores = lam * relevance[left] - (1 - lam) * redundancy
        else:
            scores = relevance[left]
        pick = left[int(np.argmax(scores))]  # argmax takes the first of ties; ``left`` is in a fixed order
        left.remove(pick)
        if any(_overlaps(names[pick], names[c]) for c in chosen):
            continue
        chosen.append(pick)
    return chosen


def _overlaps(a: str, b: str) -> bool:
    wa, wb = set(a.split()), set(b.split())
    return wa <= wb or wb <= wa


Embedder = Callable[[list[str]], np.ndarray]


def keyphrase_labels(texts: Sequence[str], assign: np.ndarray, centroids: np.ndarray, embed: Embedder, *,
                     max_candidates: int = MAX_CANDIDATES, n: int = N_KEYPHRASES, lam: float = MMR_LAMBDA) -> list[list[str]]:
    """Each cluster's ``n`` keyphrases, most relevant first (see the module docstring)."""
    k = len(centroids)
    cands = candidate_phrases(texts, assign, k, max_candidates=max_candidates)
    unique = sorted({p for ps in cands for p, _ in ps})
    if not unique:
        return [[] for _ in range(k)]
    vecs = np.asarray(embed(unique), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    cents = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    sims = vecs @ cents.T  # phrase x cluster
    row = {p: i for i, p in enumerate(unique)}
    out = []
    for c in range(k):
        if not cands[c]:
            out.append([])
            continue
        names = [p for p, _ in cands[c]]
        idx = np.array([row[p] for p in names])
        s = sims[idx]
        other = np.delete(s, c, axis=1).max(axis=1) if k > 1 else np.zeros(len(idx))
        coverage = np.array([v for _, v in cands[c]])
        relevance = s[:, c] - CONTRAST * other + COVERAGE * np.sqrt(coverage)
        picked = mmr(relevance, vecs[idx], names, n, lam)
        out.append([names[i] for i in picked])
    return out


def cached_embedder(model: str, backend: str, cache_root: Path) -> Embedder:
    """Embed texts through the workspace's embedding cache (same folder and precision as the prompts)."""
    from mixwise.curate.embed import cache_key, embed_texts
    from mixwise.curate.embed_cache import EmbeddingCache, text_keys

    def embed(texts: list[str]) -> np.ndarray:
        cache = EmbeddingCache(cache_root / cache_key(model, backend))
        keys = text_keys(texts)
        missing = np.nonzero(~cache.contains(keys))[0]
        if len(missing):  # one shard per labelling run, not one per cluster
            # Phrases are a few tokens long: big batches pad little.
            cache.add(keys[missing], embed_texts([texts[i] for i in missing], model, batch_size=128, backend=backend))
        out = np.zeros((len(texts), _dim(cache)), dtype=np.float32)
        cache.gather(keys, out)
        return out

    return embed


def _dim(cache) -> int:
    return int(np.load(cache.shards()[0], mmap_mode="r").shape[1])


def ctfidf_keywords(texts: Sequence[str], assign: np.ndarray, k: int, top: int = 8) -> list[list[str]]:
    """The ``top`` c-TF-IDF terms of each of ``k`` clusters (cluster ids ``0..k-1`` in ``assign``).

    ``tf(t, c) * log(1 + A / f(t))`` with ``A`` the average number of words per
    cluster and ``f(t)`` the term's frequency over all clusters; English stop
    words removed, unigrams and bigrams, numbers ignored.
    """
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
        if any(_overlaps(t, c) for c in chosen):
            continue
        chosen.append(t)
        if len(chosen) == top:
            break
    return chosen


def label_from_keywords(keywords: Sequence[str], n: int = 3) -> str:
    """A short label: the first ``n`` keywords joined by commas (``"(no keywords)"`` if none)."""
    return ", ".join(keywords[:n]) if keywords else "(no keywords)"


def central_prompts(texts: Sequence[str], rows: Sequence[int], n: int = N_CENTRAL, chars: int = 300) -> list[str]:
    """The first ``n`` of ``rows`` (nearest the centroid first) as one-line prompts without template markers."""
    return [" ".join(clean_prompt(texts[i]).split())[:chars] for i in list(rows)[:n]]


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
