"""MinHash + LSH near-duplicate search, vectorized in numpy.

Pipeline, all on whole arrays (no per-document Python loop):

1. **Word hashes**: the normalized texts' UTF-8 bytes are read straight from
   Arrow buffers; every word gets a 64-bit polynomial hash computed from prefix
   sums (``H[end] - H[start]`` rescaled), so hashing is one pass over the bytes.
2. **Shingles**: word n-grams; a shingle hash mixes ``n`` consecutive word
   hashes (splitmix64 finalizer). A text shorter than ``n`` words is one shingle.
3. **MinHash**: ``num_perm`` seeded affine permutations of the 32-bit shingle
   space, ``x -> a*x + b (mod 2**32)`` with odd ``a``; the signature is the
   per-document minimum (``np.minimum.reduceat``).
4. **LSH**: ``bands x rows`` chosen to minimise false positive + false negative
   probability at the threshold; documents that agree on a whole band are
   candidates.
5. **Verification**: each candidate pair's Jaccard is estimated from the
   signatures and kept when it reaches the threshold (less one standard
   error), and, for instruction pairs, when prompt and response each agree.

Everything is seeded, so the same texts give the same pairs on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from mixwise.curate.ids import mix64

_P = 0x100000001B3  # odd multiplier of the polynomial word hash
_MASK64 = (1 << 64) - 1
_SPACE = 32
#: Bytes of text hashed per chunk; bounds the memory of the word-hash step.
CHUNK_BYTES = 1 << 20
#: Shingles hashed per block (all permutations); small enough to stay in cache.
BLOCK_SHINGLES = 1 << 18



def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands*rows <= num_perm`` minimising the weighted FP/FN probability mass."""
    s = np.linspace(0.0, 1.0, 2001)
    below, above = s <= threshold, s >= threshold
    best, best_err = (1, num_perm), np.inf
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - s**r) ** b  # probability two docs of Jaccard s become candidates
            fp = np.trapezoid(p[below], s[below])
            fn = np.trapezoid(1.0 - p[above], s[above])
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-12:
                best, best_err = (b, r), err
    return best


_POWERS: dict[str, np.ndarray] = {}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**j`` and ``P**-j`` (mod 2**64) for ``j < n``, cached and grown on demand."""
    if _POWERS.get("p") is None or len(_POWERS["p"]) < n:
        size = max(n, CHUNK_BYTES)
        for key, base in (("p", _P), ("i", pow(_P, -1, 1 << 64))):
            arr = np.empty(size, np.uint64)
            arr[0] = 1
            arr[1:] = base
            np.multiply.accumulate(arr, out=arr)
            _POWERS[key] = arr
    return _POWERS["p"][:n], _POWERS["i"][:n]


@dataclass(frozen=True)
class MinHasher:
    """Seeded MinHash over word n-gram shingles."""

    num_perm: int = 128
    shingle: int = 3
    seed: int = 0

    def _perms(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(0, 1 << 32, self.num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
        b = rng.integers(0, 1 << 32, self.num_perm, dtype=np.uint64).astype(np.uint32)
        return a, b

    def shingles(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """``(hashes, doc_of_each)``: 64-bit shingle hashes of normalized texts, grouped by document in order."""
        parts = [(h, d + start) for start, h, d in self._chunks(texts)]
        if not parts:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        return np.concatenate([h for h, _ in parts]), np.concatenate([d for _, d in parts])

    def _chunks(self, texts: pl.Series):
        """Yield ``(first_doc, hashes, doc_within_chunk)`` over chunks of about CHUNK_BYTES of text."""
        arr = texts.fill_null("").rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None else np.zeros(0, np.uint8)
        n, start = len(arr), 0
        while start < n:
            # Take documents until the chunk holds CHUNK_BYTES of text (at least one document).
            stop = int(np.searchsorted(offsets, offsets[start] + CHUNK_BYTES, side="right")) - 1
            stop = min(max(stop, start + 1), n)
            h, d = self._chunk_shingles(data, offsets[start : stop + 1])
            yield start, h, d
            start = stop

    def _chunk_shingles(self, data: np.ndarray, offs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(offs[0]), int(offs[-1])
        buf = data[lo:hi]
        rel = offs - lo
        if buf.size == 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        # A word starts at a non-space byte preceded by a space or a document start; ends likewise.
        is_word = buf != _SPACE
        doc_start = np.zeros(buf.size, bool)
        doc_start[rel[:-1][rel[:-1] < buf.size]] = True
        prev_word = np.empty(buf.size, bool)
        prev_word[0] = False
        prev_word[1:] = is_word[:-1]
        starts = np.flatnonzero(is_word & (~prev_word | doc_start))
        doc_end = np.zeros(buf.size, bool)
        ends_idx = rel[1:] - 1
        doc_end[ends_idx[ends_idx >= 0]] = True
        next_word = np.empty(buf.size, bool)
        next_word[-1] = False
        next_word[:-1] = is_word[1:]
        ends = np.flatnonzero(is_word & (~next_word | doc_end)) + 1
        # Polynomial prefix hash: H[i] = sum_{j<i} (byte_j + 1) * P**j  (mod 2**64); a word's hash
        # (H[end] - H[start]) * P**-start does not depend on where the word sits.
        powers, inv = _powers(buf.size)
        prefix = np.zeros(buf.size + 1, np.uint64)
        terms = np.multiply(buf, powers, dtype=np.uint64)
        terms += powers  # the "+ 1" keeps zero bytes from vanishing
        np.cumsum(terms, out=prefix[1:])
        words = mix64((prefix[ends] - prefix[starts]) * inv[starts])
        del terms, prefix
        word_doc = np.searchsorted(rel, starts, side="right") - 1
        return self._combine(words, word_doc)

    def _combine(self, words: np.ndarray, word_doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes from word hashes: every window of ``shingle`` words inside one document."""
        n, k = words.size, self.shingle
        if n == 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        first = np.r_[True, word_doc[1:] != word_doc[:-1]]
        doc_first = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        counts = np.bincount(word_doc - word_doc[0])[word_doc - word_doc[0]]
        pos = np.arange(n) - doc_first  # position of the word inside its document
        valid = (pos + k <= counts) | ((pos == 0) & (counts < k))
        acc = words.copy()
        for t in range(1, k):
            nxt = np.zeros(n, np.uint64)
            nxt[:-t] = words[t:]
            inside = np.zeros(n, bool)
            inside[:-t] = word_doc[t:] == word_doc[:-t]
            acc = mix64(acc * np.uint64(0x9E3779B97F4A7C15) + np.where(inside, nxt, np.uint64(0)))
        return acc[valid], word_doc[valid].astype(np.int64)

    def signatures(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures uint32 [n, num_perm], has_shingles bool [n])`` for normalized texts.

        Streams: shingles of one chunk of text are reduced to signatures before the
        next chunk is read, so memory is the signatures plus one chunk.
        """
        n = len(texts)
        sig = np.full((n, self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        has = np.zeros(n, bool)
        for start, hashes, docs in self._chunks(texts):
            if hashes.size:
                s, h = self.signatures_from_shingles(hashes, docs, int(docs[-1]) + 1)
                sig[start + docs[0] : start + docs[-1] + 1] = s[docs[0] :]
                has[start + docs[0] : start + docs[-1] + 1] = h[docs[0] :]
        return sig, has

    def signatures_from_shingles(self, hashes: np.ndarray, docs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """MinHash signatures from shingle hashes grouped by document (docs non-decreasing)."""
        a, b = self._perms()
        sig = np.full((n, self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        has = np.zeros(n, bool)
        if hashes.size == 0:
            return sig, has
        x = (hashes >> np.uint64(32)).astype(np.uint32)
        # Blocks of shingles that end on a document boundary, so each document is reduced once;
        # one permutation at a time over a contiguous block keeps the work in cache.
        bounds = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        i = 0
        while i < len(bounds):
            j = max(int(np.searchsorted(bounds, bounds[i] + BLOCK_SHINGLES, side="left")), i + 1)
            s0 = bounds[i]
            s1 = bounds[j] if j < len(bounds) else x.size
            xb, starts = x[s0:s1], bounds[i:j] - s0
            h = np.empty_like(xb)
            block = np.empty((self.num_perm, j - i), np.uint32)
            for k in range(self.num_perm):
                np.multiply(xb, a[k], out=h)  # wraps mod 2**32: x -> a*x + b is a permutation
                h += b[k]
                block[k] = np.minimum.reduceat(h, starts)
            sig[docs[bounds[i:j]]] = block.T
            i = j
        has[docs[bounds]] = True
        return sig, has


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``[n, bands]`` uint64 keys: documents with equal keys in a band agree on that band's rows."""
    n = sig.shape[0]
    keys = np.empty((n, bands), np.uint64)
    s = sig.astype(np.uint64)
    for j in range(bands):
        h = np.full(n, ((j + 1) * 0x9E3779B97F4A7C15) & _MASK64, np.uint64)
        for t in range(rows):
            h = mix64(h ^ s[:, j * rows + t])
        keys[:, j] = h
    return keys


def candidate_pairs(keys: np.ndarray, active: np.ndarray, window: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i < j)`` of documents sharing a band bucket.

    Within a bucket every member is paired with the bucket's first member and
    with the next ``window`` members, so buckets of up to ``window + 1`` give
    all pairs and huge buckets (boilerplate) stay linear.
    """
    idx = np.flatnonzero(active)
    if len(idx) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    us, vs = [], []
    for j in range(keys.shape[1]):
        k = keys[idx, j]
        order = np.argsort(k, kind="stable")
        ks, members = k[order], idx[order]
        new = np.r_[True, ks[1:] != ks[:-1]]
        head = members[np.maximum.accumulate(np.where(new, np.arange(len(ks)), 0))]
        star = ~new
        us.append(head[star])
        vs.append(members[star])
        for d in range(1, window + 1):
            same = ks[d:] == ks[:-d]
            us.append(members[:-d][same])
            vs.append(members[d:][same])
    if not us:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    u, v = np.concatenate(us), np.concatenate(vs)
    u, v = np.minimum(u, v), np.maximum(u, v)
    keep = u != v
    code = np.unique(u[keep].astype(np.int64) * np.int64(len(active)) + v[keep])
    return code // len(active), code % len(active)


def estimate_jaccard(sig: np.ndarray, u: np.ndarray, v: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Estimated Jaccard similarity of each pair: the share of equal signature slots."""
    out = np.empty(len(u), np.float32)
    for s in range(0, len(u), chunk):
        out[s : s + chunk] = (sig[u[s : s + chunk]] == sig[v[s : s + chunk]]).mean(axis=1)
    return out


def components(n: int, u: np.ndarray, v: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Union-find over edges, vectorized: each node's label is the smallest node index of its component.

    Roots hook onto the smallest root among their edges, then pointer jumping
    flattens the forest; repeat until no edge joins two roots. ``labels`` (a
    previous result) lets passes add edges to earlier components.
    """
    lab = np.arange(n, dtype=np.int64) if labels is None else labels.astype(np.int64, copy=True)
    if len(u) == 0:
        return lab
    u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
    while True:
        lu, lv = lab[u], lab[v]
        diff = lu != lv
        if not diff.any():
            return lab
        lu, lv = lu[diff], lv[diff]
        m = np.minimum(lu, lv)
        np.minimum.at(lab, lu, m)
        np.minimum.at(lab, lv, m)
        while True:  # pointer jumping until every node points at a root
            nxt = lab[lab]
            if np.array_equal(nxt, lab):
                break
            lab = nxt


def verify_margin(threshold: float, num_perm: int) -> float:
    """One standard error of a ``num_perm``-slot Jaccard estimate at ``threshold``."""
    return float(np.sqrt(threshold * (1.0 - threshold) / num_perm))


@dataclass(frozen=True)
class NearResult:
    """Verified near-duplicate pairs and their estimated Jaccard."""

    u: np.ndarray
    v: np.ndarray
    jaccard: np.ndarray
    bands: int
    rows: int
    candidates: int


def near_pairs(
    prompts: pl.Series, responses: pl.Series, *, threshold: float = 0.7, half_threshold: float = 0.3,
    num_perm: int = 128, shingle: int = 3, seed: int = 0, bands: tuple[int, int] | None = None,
) -> NearResult:
    """Near-duplicate pairs of (prompt, response) items.

    Candidates share a band; a candidate is kept when its estimated pair Jaccard
    is within one standard error of ``threshold`` or above. The pair's shingle set is the union of the prompt's and the response's, so
    its signature is their element-wise minimum. A pair counts when the pair's
    estimated Jaccard reaches ``threshold`` AND each half reaches
    ``half_threshold``: a shared template with different answers is not a near
    duplicate. ``half_threshold=0`` compares the pair text only.
    """
    hasher = MinHasher(num_perm=num_perm, shingle=shingle, seed=seed)
    sig_p, has_p = hasher.signatures(prompts)
    sig_r, has_r = hasher.signatures(responses)
    sig = np.minimum(sig_p, sig_r)
    b, r = bands or optimal_bands(threshold, num_perm)
    keys = band_keys(sig, b, r)
    u, v = candidate_pairs(keys, has_p | has_r)
    n_cand = len(u)
    jac = estimate_jaccard(sig, u, v)
    # Banding already selects around the threshold; verifying the estimate against the bare threshold
    # would reject about half of the pairs that truly sit at it, so allow one standard error.
    ok = jac >= threshold - verify_margin(threshold, num_perm)
    if half_threshold > 0 and len(u):
        ok &= estimate_jaccard(sig_p, u, v) >= half_threshold
        ok &= estimate_jaccard(sig_r, u, v) >= half_threshold
    return NearResult(u[ok], v[ok], jac[ok], b, r, n_cand)
