"""Checkpoints that resume exactly: weights, optimizer, scheduler, RNG states and data position.

A checkpoint folder holds a loadable model (``save_pretrained`` + tokenizer; for
LoRA the merged model only in the final one, the adapter in ``adapter/``) and
``trainer_state.pt``, except the final checkpoint of a run that completed all its
epochs (weights only: nothing is left to resume). A run cut short by
``--max-steps`` keeps its state, so it can be continued. The data position is the global optimizer step: the
sequence order of every epoch is a pure function of (seed, epoch), so the step
says exactly which batch comes next.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

from mixwise.errors import MixwiseError

STATE_FILE = "trainer_state.pt"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def model_state(model, strategy_fsdp: bool) -> dict | None:
    """A full state dict (gathered on every rank for FSDP; None means 'let save_pretrained read the model')."""
    if not strategy_fsdp:
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if getattr(model.config, "tie_word_embeddings", False):  # tied copies (lm_head = embeddings) are saved once
        for key in getattr(model, "_tied_weights_keys", None) or {}:
            state.pop(key, None)
    return state


def optimizer_state(model, optimizer, strategy_fsdp: bool) -> dict:
    if not strategy_fsdp:
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def save(folder: Path, *, model, tokenizer, state: dict | None, main: bool, full_state: dict | None = None,
         merge_lora: bool = False) -> None:
    """Write the model, tokenizer and trainer state (only the main process writes).

    Everything goes to a hidden ``.<name>.partial`` folder first, renamed into place when
    complete: a process killed while saving leaves no checkpoint that looks resumable but
    is cut off (the partial folder is removed by the next save or ignored by :func:`find`).
    """
    if not main:
        return
    partial = folder.parent / f".{folder.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    is_lora = hasattr(model, "peft_config")
    if is_lora:
        model.save_pretrained(partial / "adapter")
        if merge_lora:  # the final checkpoint: a plain model that every mixwise command can load
            model.merge_and_unload().save_pretrained(partial)
    else:
        model.save_pretrained(partial, state_dict=full_state)
    tokenizer.save_pretrained(partial)
    if state is not None:
        torch.save(state, partial / STATE_FILE)
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)


def find(path: str | Path) -> Path:
    """The checkpoint folder for ``path``: a checkpoint itself, or a run folder (its latest resumable checkpoint).

    A checkpoint whose state cannot be read is skipped for the one before it.
    """
    p = Path(path).expanduser()
    if (p / STATE_FILE).is_file():
        return p
    candidates = [c for c in p.glob("checkpoint*") if (c / STATE_FILE).is_file()] if p.is_dir() else []
    steps = {}
    for c in candidates:
        try:
            steps[c] = torch.load(c / STATE_FILE, weights_only=False, map_location="cpu")["global_step"]
        except (RuntimeError, EOFError, KeyError, OSError):
            continue
    if not steps:
        raise MixwiseError(f"no resumable checkpoint at {p}", f"pass a folder containing {STATE_FILE} (runs/<run>/checkpoint-step-N)")
    return max(steps, key=steps.get)


def load_state(folder: Path) -> dict:
    return torch.load(folder / STATE_FILE, weights_only=False)
