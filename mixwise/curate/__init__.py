"""Curation stages: ingest sources into the canonical sample table, then embed,
cluster, deduplicate and classify style. Each stage adds columns; none rewrites
another's."""
