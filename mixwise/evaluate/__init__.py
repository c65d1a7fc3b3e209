"""Evaluation in both paradigms: log-likelihood benchmarks and generation + LLM-as-a-judge."""
