"""Small self-written fixtures for the mixing tests: sources, stage columns, specs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

TOPICS = {
    "cooking": ["How long should I boil an egg?", "What spice goes well with lentils?", "How do I keep bread fresh?",
                "Why does my risotto turn gluey?", "How do I sear a steak evenly?", "What can replace butter in cookies?",
                "How do I make a sourdough starter?", "Which oil is best for deep frying?", "How do I thicken a soup?",
                "What is the secret to fluffy pancakes?"],
    "python": ["How do I reverse a list in Python?", "What does a Python decorator do?", "How do I read a CSV file with pandas?",
               "Why is my Python loop slow?", "How do I write a unit test with pytest?", "What is a Python generator?",
               "How do I merge two dicts in Python?", "What is the GIL in CPython?", "How do I install a package with pip?",
               "How do I sort a list of tuples by the second item?"],
    "astronomy": ["Why is Mars red?", "How far away is the Andromeda galaxy?", "What is a neutron star?",
                  "Why does the Moon show phases?", "How are black holes detected?", "What is a light year?",
                  "Why do stars twinkle?", "How hot is the surface of the Sun?", "What are Saturn's rings made of?",
                  "How do comets get their tails?"],
}


def write_source(path: Path, topic: str, *, long: bool, repeat_first: int = 0) -> Path:
    """An Alpaca-style JSON list about one topic; ``long`` answers are multi-paragraph."""
    recs = []
    for i, q in enumerate(TOPICS[topic]):
        body = f"Answer {i} about {topic}: " + ("This takes some explanation.\n\n" * (8 + i) if long else "short and direct.")
        recs.append({"instruction": q, "input": "", "output": body})
    recs += recs[:repeat_first]  # exact duplicates
    path.write_text(json.dumps(recs))
    return path


def build_workspace(ws, tmp: Path) -> None:
    """Three sources (two with exact duplicates), plus cluster and style columns for them."""
    from mixwise.curate.ingest import ingest

    ingest(str(write_source(tmp / "chef.json", "cooking", long=True, repeat_first=3)), ws, name="chef")
    ingest(str(write_source(tmp / "coder.json", "python", long=False, repeat_first=2)), ws, name="coder")
    ingest(str(write_source(tmp / "stars.json", "astronomy", long=True)), ws, name="stars")


def add_stage_columns(ws) -> pl.DataFrame:
    """Cluster (by source) and style (by response length) columns, written through the real workspace API."""
    t = ws.samples(columns=["id", "source", "response_chars", "content_hash"])
    codes = {"chef": 0, "coder": 1, "stars": 2}
    clusters = t.select("id", pl.col("source").replace_strict(codes, return_dtype=pl.Int32).alias("cluster"),
                        pl.col("source").replace_strict({"chef": "food", "coder": "python code", "stars": "space"}).alias("cluster_label"))
    ws.write_columns("cluster", clusters, {"fixture": "by source"})
    style = t.select("id", pl.when(pl.col("response_chars") > 200).then(pl.lit("long_form")).otherwise(pl.lit("concise")).alias("style"),
                     (pl.col("response_chars") / 1000).clip(0, 1).cast(pl.Float32).alias("style_score_long_form"))
    ws.write_columns("style", style, {"fixture": "by length"})
    return t


def add_dedup_columns(ws) -> None:
    """dup_* columns: repeated content is 'exact' (first kept), and every 'stars' row after the 5th is 'near' of the 1st."""
    t = ws.samples(columns=["id", "source", "content_hash"]).with_row_index("i")
    first = t.group_by("content_hash").agg(pl.col("id").first().alias("rep"), pl.col("i").min().alias("i0"))
    t = t.join(first, on="content_hash", maintain_order="left")
    stars = t.filter(pl.col("source") == "stars")
    star_rep, star_late = stars["id"][0], stars["id"][5:].to_list()
    exact = pl.col("i") != pl.col("i0")
    near = pl.col("id").is_in(star_late)
    cols = t.select(
        "id",
        pl.when(exact | near).then(pl.col("rep")).alias("dup_group"),
        pl.when(exact).then(pl.col("rep")).when(near).then(pl.lit(star_rep)).alias("dup_of"),
        pl.when(exact).then(pl.lit("exact")).when(near).then(pl.lit("near")).alias("dup_kind"),
        pl.when(exact | near).then(pl.lit(False)).alias("dup_keep"),
    )
    ws.write_columns("dedup", cols, {"fixture": True})
