"""Mixing: YAML specs in, versioned self-sufficient manifests out, and diffs of two manifests."""
