"""The column path of text normalization agrees with the one-string rule, on tricky Unicode."""

from __future__ import annotations

import random
import unicodedata

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from mixwise.curate.textnorm import nfc_sensitive, norm, normalize_column, normalize_with_lengths, rows_to_fix, scan

# Pieces that NFC touches (or must leave alone) next to plain text.
PIECES = ["a", "e", " ", "\n", "\r\n", "\r", "é", "e\u0301", "\u0301", "\u0316\u0301", "Å", "\u212b", "\u2126",
          "\u1100\u1161", "\u1100\u1161\u11a8", "\uac00", "\uac00\u11a8", "\uf900", "\u0958", "\u0344", "“quotes”",
          "—", "日本語", "😀", "\U0001d15e", "\U0002f800", "x\u0327\u0301", "\u00a0", "\u3000"]


def test_sensitive_table_knows_the_usual_suspects():
    t = nfc_sensitive()
    for ch in "\u0301\u0327\u1161\u11a8\u212b\u2126\uf900\u0344":
        assert t[ord(ch)], hex(ord(ch))
    for ch in "éÅ“—日😀\u00a0a":
        assert not t[ord(ch)], hex(ord(ch))


def test_normalize_column_equals_norm_on_random_mixtures():
    rng = random.Random(11)
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8))).strip() for _ in range(3000)]
    texts += [None, ""]
    col = pa.chunked_array([pa.array(texts[:1000]), pa.array(texts[1000:]).slice(3)])
    expected = [None if t is None else norm(t) for t in texts[:1000] + texts[1003:]]
    assert normalize_column(col).to_pylist() == expected
    normalized, chars = normalize_with_lengths(col)
    assert normalized.to_pylist() == expected
    assert chars.tolist() == [0 if t is None else len(t) for t in expected]
    # every row the rule changes is flagged (the filter may over-flag, never under-flag)
    flat = pa.array(texts)
    flagged = rows_to_fix(flat)
    for i, t in enumerate(texts):
        if t is not None and norm(t) != t:
            assert flagged[i], repr(t)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFFF, exclude_categories=("Cs",))),
                min_size=1, max_size=20))
def test_filter_never_misses_a_change(texts):
    texts = [t.strip() for t in texts]
    flagged, chars = scan(pa.array(texts))
    assert chars.tolist() == [len(t) for t in texts]
    for i, t in enumerate(texts):
        if unicodedata.normalize("NFC", t.replace("\r\n", "\n")).strip() != t:
            assert flagged[i], repr(t)


def test_lengths_count_characters_of_every_width_and_in_slices():
    texts = ["", "a", "é", "日本", "😀x", "a\r\nb", "\U0002f800", "x" * 9 + "é", None, "ÅÅ"] * 7
    col = pa.array(texts)
    for piece in (col, col.slice(3), col.slice(5, 11), col.slice(69)):
        got = scan(piece)[1].tolist()
        assert got == [0 if t is None else len(t) for t in piece.to_pylist()]
