"""Content hashes, row ids and occurrence numbering (curate/ids.py)."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

from mixwise.curate import ids


def naive_occurrences(blocks: list[list[bytes]]) -> list[int]:
    seen: dict[bytes, int] = {}
    out = []
    for block in blocks:
        for d in block:
            out.append(seen.get(d[:8], 0))
            seen[d[:8]] = seen.get(d[:8], 0) + 1
    return out


def test_occurrences_match_a_plain_counter_across_and_within_blocks():
    rng = random.Random(3)
    pool = [ids.digest(f"text {i}") for i in range(60)]
    blocks = [[rng.choice(pool) for _ in range(rng.randint(0, 40))] for _ in range(30)]
    blocks.append([ids.digest(f"fresh {i}") for i in range(50)])  # the no-copies fast path
    occ = ids.Occurrences()
    got = [int(x) for block in blocks for x in occ.assign(block)]
    assert got == naive_occurrences(blocks)
    assert max(got) > 5 and got.count(0) == 60 + 50 - sum(1 for d in pool if all(d not in b for b in blocks))


def test_digests_and_hex_match_scalar_forms():
    texts = ["", "a", "héllo\nwörld", "x" * 5000]
    digests = ids.digests_of(pa.chunked_array([pa.array(texts[:2]), pa.array(texts[2:])]))
    assert ids.digests_of(pa.array(texts, pa.large_string()).slice(1)) == digests[1:]
    assert digests == [ids.digest(t) for t in texts]
    assert ids.hex_digests(digests).to_pylist() == [d.hex() for d in digests]
    assert ids.content_hash("", [("user", "q"), ("assistant", "a")]) == ids.digest("\x1euser\x1fq\x1eassistant\x1fa").hex()


def test_row_ids_are_unique_stable_and_depend_on_source_and_occurrence():
    d = [ids.digest(str(i % 3)) for i in range(9)]
    occ = ids.Occurrences().assign(d)
    a = ids.row_ids("src", d, occ).to_pylist()
    assert len(set(a)) == 9 and all(len(x) == 16 for x in a)
    assert a == ids.row_ids("src", d, occ).to_pylist()
    assert set(a).isdisjoint(ids.row_ids("other", d, occ).to_pylist())
    assert a[4] == ids.row_id("src", d[4].hex(), int(occ[4])) and int(occ[4]) == 1
    assert ids.row_ids("src", d[:1], np.zeros(1)).to_pylist() == a[:1]


def test_keys_are_pinned():
    """A change of hash or mixing would silently change every id in every workspace and manifest."""
    assert ids.digest(b"").hex() == "99aa06d3014798d86001c324468d497f"  # XXH3-128's published value for no input
    chash = ids.content_hash("", [("user", "Hi"), ("assistant", "Hey")])
    assert chash == "be78657b6dc6ba7a8a7c1e2bb7233087"
    assert ids.row_id("alpaca", chash, 0) == "97635e51fdaa316b"
