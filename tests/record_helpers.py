"""Test helper: a ``runs/<run>`` folder without training -- the tiny-random checkpoint and a valid run record.

Tests of evaluation and attribution need run folders, not training: the
checkpoint is a link to the untrained tiny-random model and the record is a
:class:`mixwise.records.RunRecord` of a run of 0 steps on the given manifest,
written through the records module like ``mixwise train`` writes it.
"""

from __future__ import annotations

from pathlib import Path

from mixwise.records import Manifest, ManifestRef, MaskingAudit, ModelInfo, RunData, RunRecord, Throughput


def fixture_run(run_dir: Path, manifest: Manifest | None = None) -> Path:
    """``run_dir`` with ``checkpoint`` -> tiny-random and a run record of 0 steps on ``manifest`` (a placeholder ref if None)."""
    from mixwise.models import resolve_model_path

    run_dir.mkdir(parents=True, exist_ok=True)
    model = resolve_model_path("tiny-random")
    (run_dir / "checkpoint").symlink_to(model, target_is_directory=True)
    ref = (ManifestRef(name=manifest.name, version=manifest.version, path=str(manifest.folder), rows=manifest.counts.samples)
           if manifest is not None else ManifestRef(name="none", version="none", path="", rows=0))
    RunRecord(
        schema_version=1, run=run_dir.name, started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:00:00+00:00",
        manifest=ref,
        model=ModelInfo(name="tiny-random", path=model, parameters=0, trainable_parameters=0, attn_implementation="sdpa",
                        residual_dropout={"applied": False, "reason": "not trained: a test fixture"}),
        recipe_source="none", overrides={}, recipe={}, max_steps=0, resumed_from=None,
        data=RunData(sequences=0, packing=False, steps_per_epoch=0, total_steps=0,
                     masking=MaskingAudit(template="default", added_tokens=[], samples=0, tokens=0, trained_tokens=0,
                                          trained_fraction=0.0, dropped={}, per_source={})),
        steps=0, epochs_completed=0.0, final_loss=None,
        throughput=Throughput(seconds=0.0, setup_seconds=0.0, tokens_per_s=0.0, trained_tokens_per_s=0.0, tokens=0,
                              trained_tokens=0, peak_memory_mib=None, bf16_autocast=False),
        loss_curve=[], checkpoints=[], final_checkpoint="checkpoint", software={}, git={}, hardware={},
    ).write(run_dir / "run.json")
    return run_dir
