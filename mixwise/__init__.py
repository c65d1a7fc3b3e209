"""mixwise: data-centric curation and mixing of instruction-finetuning data.

The package is organised by stage (see DESIGN.md and the README):
``mixwise.curate`` (ingest, embed, cluster, dedup, style), ``mixwise.mixing``
(specs, manifests, diff), ``mixwise.finetune`` (train from a manifest) and
``mixwise.evaluate`` (log-likelihood benchmarks, generation, judges).
The command line in ``mixwise.cli`` is a thin layer over these modules.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("mixwise")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0+src"

__all__ = ["__version__"]
