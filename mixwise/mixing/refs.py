"""Manifest references: ``NAME`` (latest), ``NAME@VERSION`` or a path.

A manifest lives in ``<manifests>/<name>/<version>/`` (``manifest.json`` +
``samples.parquet``); ``<manifests>/<name>/LATEST`` holds the version written
last. ``<manifests>`` is ``./manifests`` unless ``--manifests DIR`` /
``$MIXWISE_MANIFESTS`` says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

from mixwise.errors import MixwiseError, did_you_mean

ENV_VAR = "MIXWISE_MANIFESTS"


def manifests_dir(path: str | os.PathLike | None = None) -> Path:
    """The manifests folder: explicit path, ``$MIXWISE_MANIFESTS``, or ``./manifests``."""
    return Path(path or os.environ.get(ENV_VAR) or "manifests").expanduser().resolve()


def is_manifest_dir(path: Path) -> bool:
    return (path / "manifest.json").is_file() and (path / "samples.parquet").is_file()


def known_names(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(is_manifest_dir(v) for v in p.iterdir() if v.is_dir()))


def resolve_manifest(ref: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of the manifest that ``ref`` names; a did-you-mean error otherwise."""
    as_path = Path(ref).expanduser()
    if is_manifest_dir(as_path):
        return as_path.resolve()
    if as_path.name == "manifest.json" and is_manifest_dir(as_path.parent):
        return as_path.parent.resolve()
    base = manifests_dir(root)
    name, _, version = ref.partition("@")
    folder = base / name
    if not folder.is_dir():
        raise MixwiseError(f"no manifest named {name!r} in {base}", did_you_mean(name, known_names(base)) + " (or pass a path)")
    if not version:
        latest = folder / "LATEST"
        if latest.is_file():
            version = latest.read_text().strip()
        else:
            versions = sorted((v for v in folder.iterdir() if is_manifest_dir(v)), key=lambda v: (v / "manifest.json").stat().st_mtime)
            if not versions:
                raise MixwiseError(f"manifest {name!r} has no versions in {folder}", "build one with: mixwise mix SPEC.yaml")
            return versions[-1].resolve()
    matches = [v for v in folder.iterdir() if is_manifest_dir(v) and v.name.startswith(version)]
    if len(matches) == 1:
        return matches[0].resolve()
    known = [v.name for v in folder.iterdir() if is_manifest_dir(v)]
    if not matches:
        raise MixwiseError(f"manifest {name!r} has no version {version!r}", did_you_mean(version, known))
    raise MixwiseError(f"version prefix {version!r} of {name!r} is ambiguous: {sorted(m.name for m in matches)}", "give more characters")
