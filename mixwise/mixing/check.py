"""``mixwise mix --check``: validate a spec against a workspace without writing anything.

Static checks always run (names, columns, stages). When every source the spec
needs is already in the workspace, the selection itself is dry-run too, so a
component that cannot be filled is reported exactly as a build would.
"""

from __future__ import annotations

import polars as pl

from mixwise.mixing.build import Selection, select
from mixwise.mixing.filters import check_spec
from mixwise.mixing.spec import Spec
from mixwise.schema import SAMPLE_SCHEMA
from mixwise.workspace import Workspace


def check_against_workspace(spec: Spec, ws: Workspace) -> tuple[list[str], Selection | None]:
    """Raise SpecError for anything wrong; return the sources a build would ingest and the dry-run selection."""
    have = ws.source_names()
    pending = sorted(n for n in spec.sources if n not in have)
    table = ws.scored() if have else pl.from_arrow(SAMPLE_SCHEMA.empty_table())
    check_spec(spec, table, pending_sources=set(pending))
    if pending:
        return pending, None
    from mixwise.curate.embed import load_embeddings

    return pending, select(spec, table, load_embeddings=lambda field: load_embeddings(ws, field=field))
