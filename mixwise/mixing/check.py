"""``mixwise mix --check``: validate a spec against a workspace without building anything."""

from __future__ import annotations

import polars as pl

from mixwise.mixing.filters import check_spec
from mixwise.mixing.spec import Spec
from mixwise.schema import SAMPLE_SCHEMA
from mixwise.workspace import Workspace


def check_against_workspace(spec: Spec, ws: Workspace) -> list[str]:
    """Raise SpecError for anything the spec names that the workspace lacks; return sources it would ingest."""
    have = ws.source_names()
    pending = sorted(n for n in spec.sources if n not in have)
    table = ws.scored() if have else pl.from_arrow(SAMPLE_SCHEMA.empty_table())
    check_spec(spec, table, pending_sources=set(pending))
    return pending
