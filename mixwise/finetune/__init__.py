"""Finetuning a causal LM from a manifest (plain PyTorch loop; CPU for small models, GPU otherwise)."""
