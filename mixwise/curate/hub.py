"""Hugging Face datasets as sources: ``hf:ORG/NAME[:CONFIG][@SPLIT]``.

Loads through ``datasets.load_dataset`` (the real Hub path). A local directory
works too: one written by ``Dataset.save_to_disk`` is opened with
``load_from_disk``, any other folder of data files with ``load_dataset``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixwise.errors import InputError

PREFIX = "hf:"


@dataclass(frozen=True)
class HubRef:
    """A parsed ``hf:`` reference."""

    path: str
    config: str | None = None
    split: str = "train"

    @classmethod
    def parse(cls, ref: str) -> "HubRef":
        body = ref[len(PREFIX) :] if ref.startswith(PREFIX) else ref
        split = "train"
        if "@" in body:
            body, split = body.rsplit("@", 1)
        config = None
        if ":" in body and not Path(body).exists():
            body, config = body.split(":", 1)
        if not body:
            raise InputError(f"empty dataset id in {ref!r}", "write hf:ORG/NAME[:CONFIG][@SPLIT], e.g. hf:GAIR/lima@train")
        return cls(body, config or None, split or "train")

    @property
    def name(self) -> str:
        return Path(self.path.rstrip("/")).name


def load(ref: HubRef) -> Any:
    """The ``datasets.Dataset`` for a reference; one clear error line when it cannot be loaded."""
    import datasets

    try:
        local = Path(ref.path)
        if local.is_dir() and ((local / "dataset_info.json").is_file() or (local / "state.json").is_file()):
            ds = datasets.load_from_disk(str(local))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[ref.split]
            return ds
        return datasets.load_dataset(ref.path, ref.config, split=ref.split)
    except KeyError as e:
        raise InputError(f"hf dataset {ref.path!r} has no split {ref.split!r}", "name an existing split with @SPLIT") from e
    except Exception as e:  # datasets raises many types: not found, offline, bad config
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(
            f"cannot load hf dataset {ref.path!r} (config {ref.config!r}, split {ref.split!r}): {msg}",
            "check the id, config and split; offline, download it where the Hub is reachable and ingest the local files",
        ) from e


def chunks(ds: Any, chunk_size: int = 20_000) -> Iterator[list[tuple[int, Any]]]:
    """``(position, record)`` chunks of a loaded dataset."""
    index = 0
    for batch in ds.iter(batch_size=chunk_size):
        keys = list(batch.keys())
        n = len(batch[keys[0]]) if keys else 0
        rows = [{k: batch[k][i] for k in keys} for i in range(n)]
        yield list(enumerate(rows, start=index))
        index += n


def tables(ds: Any, batch_rows: int = 50_000) -> Iterator[Any]:
    """A loaded dataset as Arrow tables of up to ``batch_rows`` rows (no Python records), for column-wise conversion."""
    yield from ds.with_format("arrow").iter(batch_size=batch_rows)


def fingerprint(ds: Any) -> str:
    """The dataset's own fingerprint (datasets tracks it through every transform)."""
    return str(getattr(ds, "_fingerprint", "")) or "unknown"
