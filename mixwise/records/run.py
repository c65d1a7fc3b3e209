"""The run record: ``runs/<run>/run.json`` -- what was trained, on which manifest, how fast, and how it went.

Written by ``mixwise train`` (:func:`mixwise.finetune.train.save_run`); read by
``attribute``, ``eval mc`` / ``eval judge`` / ``generate`` (a ``runs/<run>``
model is its ``final_checkpoint``) and the demo. Schema 1 adds
``schema_version`` to the record release 0.1.0 wrote; files without it are
read as that release's record (same fields).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mixwise.records.base import Record

RUN_FILE = "run.json"


@dataclass(frozen=True, kw_only=True)
class ManifestRef:
    """The manifest a run was trained on."""

    name: str
    """Mixture name."""
    version: str
    """Manifest version (``NAME@VERSION`` finds it again in a manifests folder)."""
    path: str
    """The manifest folder at training time (may not exist on another machine)."""
    rows: int
    """Rows read from its samples file."""

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """The model that was finetuned."""

    name: str
    """As given: alias, hub id, folder or runs/<run>."""
    path: str
    """What it resolved to (a resumed full finetune: the checkpoint)."""
    parameters: int
    """All parameters."""
    trainable_parameters: int
    """Parameters the optimizer updated (fewer with LoRA)."""
    attn_implementation: str
    """Attention kernel (sdpa, eager, flash_attention_2)."""
    residual_dropout: dict[str, Any]
    """What residual dropout did: ``applied`` and either the rates per layer or the reason it was not applied."""


@dataclass(frozen=True, kw_only=True)
class SourceMasking:
    """The masking audit of one source."""

    samples: int
    """Rows of this source."""
    tokens: int
    """Their tokens after trimming."""
    trained_tokens: int
    """Tokens with loss (response tokens that are predicted)."""
    trained_fraction: float
    """trained_tokens / tokens, 4 decimals."""


@dataclass(frozen=True, kw_only=True)
class MaskingAudit:
    """Which tokens carry the loss: the check that fails a run training no response token."""

    template: str
    """Chat template used: the model's, or mixwise's ``default``."""
    added_tokens: list[str]
    """Turn markers added to the tokenizer."""
    samples: int
    """Rows kept."""
    tokens: int
    """Their tokens."""
    trained_tokens: int
    """Tokens with loss."""
    trained_fraction: float
    """trained_tokens / tokens."""
    dropped: dict[str, int]
    """Rows dropped per reason (e.g. no response left within max_length)."""
    per_source: dict[str, SourceMasking]
    """The same per source."""


@dataclass(frozen=True, kw_only=True)
class RunData:
    """How the manifest's rows became training sequences."""

    sequences: int
    """Training sequences (packed or one per row)."""
    packing: bool
    """Whether rows were packed into sequences."""
    steps_per_epoch: int
    """Optimizer steps per epoch."""
    total_steps: int
    """Steps of the full schedule (epochs x steps_per_epoch)."""
    masking: MaskingAudit
    """The masking audit."""


@dataclass(frozen=True, kw_only=True)
class LossPoint:
    """One optimizer step."""

    step: int
    """Step number, from 1."""
    epoch: float
    """Epochs done after this step."""
    loss: float
    """Mean loss per trained token."""
    lr: float
    """Learning rate used by this step."""
    tokens: int
    """Tokens in the step's batch."""
    trained_tokens: int
    """Trained tokens in it."""
    grad_norm: float | None
    """Gradient norm before clipping (null without clipping)."""


@dataclass(frozen=True, kw_only=True)
class Throughput:
    """Speed and memory of the training loop."""

    seconds: float
    """Wall time of the optimizer steps."""
    setup_seconds: float
    """Wall time before the first step (loading, tokenizing)."""
    tokens_per_s: float
    """Tokens per second of step time."""
    trained_tokens_per_s: float
    """Trained tokens per second."""
    tokens: int
    """Tokens seen."""
    trained_tokens: int
    """Trained tokens seen."""
    peak_memory_mib: float | None
    """Peak GPU memory allocated, or the process's peak resident memory on CPU (MiB)."""
    bf16_autocast: bool
    """Whether bf16 autocast was on."""


@dataclass(frozen=True, kw_only=True)
class RunRecord(Record):
    """``runs/<run>/run.json``: one training run; the checkpoint sits beside it."""

    SCHEMA_VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = "run record"
    FIX: ClassVar[str] = "re-create the run with: mixwise train MANIFEST --model M (or pass a folder made by it)"

    schema_version: int
    """1 (files of release 0.1.0 have none and are read as 1)."""
    run: str
    """The run's folder name."""
    started_at: str
    """When training started (UTC, ISO 8601)."""
    finished_at: str
    """When the record was written."""
    manifest: ManifestRef
    """The manifest trained on."""
    model: ModelInfo
    """The model finetuned."""
    recipe_source: str
    """Recipe name or file as given."""
    overrides: dict[str, Any]
    """``--set`` overrides applied to it."""
    recipe: dict[str, Any]
    """The resolved recipe (every key; see docs/finetune.md)."""
    max_steps: int | None
    """``--max-steps``, or null."""
    resumed_from: str | None
    """The checkpoint this run resumed from, or null."""
    data: RunData
    """Sequences and the masking audit."""
    steps: int
    """Optimizer steps done."""
    epochs_completed: float
    """Epochs done."""
    final_loss: float | None
    """Loss of the last step (null when no step ran)."""
    throughput: Throughput
    """Speed and memory."""
    loss_curve: list[LossPoint]
    """Every step."""
    checkpoints: list[str]
    """Checkpoint folders written, in order."""
    final_checkpoint: str
    """The folder (inside the run) with the final weights."""
    software: dict[str, str | None]
    """Versions of python, mixwise, torch, transformers, ..."""
    git: dict[str, Any]
    """The mixwise checkout's ``commit`` and ``dirty`` flag (nulls outside git)."""
    hardware: dict[str, Any]
    """Device, world size, CPU, threads, platform (and GPU name, memory, CUDA on GPU)."""

    @classmethod
    def migrate(cls, data: dict, *, path: str | os.PathLike) -> dict:
        """Release 0.1.0 wrote the same fields without ``schema_version``."""
        if "schema_version" not in data:
            data["schema_version"] = 1
        return data

    @classmethod
    def read(cls, path: str | os.PathLike) -> RunRecord:
        """Read a run folder's ``run.json`` (or the file itself)."""
        path = Path(path)
        return super().read(path / RUN_FILE if path.is_dir() else path)

    def checkpoint_dir(self, run_dir: str | os.PathLike) -> Path:
        """The final checkpoint folder of the run in ``run_dir``."""
        return Path(run_dir) / self.final_checkpoint


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a ``runs/<run>`` folder (it holds a run record)."""
    return (Path(path) / RUN_FILE).is_file()


__all__ = ["LossPoint", "ManifestRef", "MaskingAudit", "ModelInfo", "RUN_FILE", "RunData", "RunRecord", "SourceMasking",
           "Throughput", "is_run_dir"]
